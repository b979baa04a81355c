"""The echo floor: what any /rank on this stack costs before validation and the model.

``python -m benchmarks.echo_floor --port N`` serves, on uvicorn with uvloop and httptools and
with the service's FastAPI telemetry option, a FastAPI app whose
``POST /rank`` reads the body, parses it with orjson and sends the posts back as
``{"model_version": ..., "ranked": [...], "notes": []}``, plus ``GET /health``. No validation,
no model, no metrics: FastAPI, uvicorn and JSON in and out. It is a fixed yardstick: it does not
change with the service's own server or code, so "/rank ÷ echo" cannot hide a regression.
"""

from __future__ import annotations

import argparse
from typing import Final

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from serving.app import TELEMETRY

JSON: Final = "application/json"
_HEALTH_BODY: Final = orjson.dumps({"status": "ok"})


def create_echo_app() -> FastAPI:
    app = FastAPI(
        title="feedrank echo floor",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=TELEMETRY,
    )

    @app.post("/rank")
    async def rank(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        posts = payload["posts"] if isinstance(payload, dict) else payload
        body = orjson.dumps({"model_version": "echo", "ranked": posts, "notes": []})
        return Response(body, media_type=JSON)

    @app.get("/health")
    async def health() -> Response:
        return Response(_HEALTH_BODY, media_type=JSON)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_echo_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
