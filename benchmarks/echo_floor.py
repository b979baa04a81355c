"""The echo floor: what any /rank on this stack costs before validation and the model.

``uvicorn benchmarks.echo_floor:app`` serves ``POST /rank`` that reads the body, parses it with
orjson and sends the posts back as ``{"model_version": ..., "ranked": [...], "notes": []}``,
plus the same ``GET /health``. No validation, no model, no middleware: FastAPI, the ASGI server
and JSON in and out. ``make perf`` serves it beside the real app with the same server options,
so "/rank ÷ echo" says how close the service is to the framework's own floor.
"""

from __future__ import annotations

from typing import Final

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

JSON: Final = "application/json"
_HEALTH_BODY: Final = orjson.dumps({"status": "ok"})

app = FastAPI(title="feedrank echo floor", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/rank")
async def rank(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    posts = payload["posts"] if isinstance(payload, dict) else payload
    return Response(
        orjson.dumps({"model_version": "echo", "ranked": posts, "notes": []}), media_type=JSON
    )


@app.get("/health")
async def health() -> Response:
    return Response(_HEALTH_BODY, media_type=JSON)
