"""The echo floor: what any /rank on this stack costs before validation and the model.

``python -m benchmarks.echo_floor --port N`` serves, under the service's own Granian
configuration (``serving.__main__.server``) and FastAPI telemetry option, a FastAPI app whose
``POST /rank`` reads the body, parses it with orjson and sends the posts back as
``{"model_version": ..., "ranked": [...], "notes": []}``, plus ``GET /health``. No validation,
no model, no metrics: FastAPI, the server and JSON in and out, so "/rank ÷ echo" says how close
the service is to its framework's floor.
"""

from __future__ import annotations

import argparse
from typing import Final

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from serving.__main__ import server
from serving.app import TELEMETRY
from serving.settings import load_settings

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
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    settings = load_settings(host=args.host, port=args.port, workers=args.workers)
    server(settings).serve(target_loader=create_echo_app, wrap_loader=False)


if __name__ == "__main__":
    main()
