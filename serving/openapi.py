"""The OpenAPI document, including ``POST /rank``, which FastAPI's router never sees.

``/rank`` is served by ``serving.rank`` outside the router (for speed), and reads its body
itself, so its operation is declared here from the same pydantic models and error table the
service uses: request (both body forms), 200 response, and one ``ErrorBody`` per error status.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from serving.config import MAX_POSTS
from serving.errors import ERROR_RESPONSES
from serving.rank import RANK_PATH
from serving.schemas import EXAMPLE_POSTS, ErrorBody, RankRequest, RankResponse

JSON: Final = "application/json"
_SCHEMA_REF: Final = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _SCHEMA_REF.format(model=model.__name__)}


RANK_OPERATION: Final[dict[str, Any]] = {
    "summary": "Rank posts by predicted engagement",
    "description": "Scores each post and returns them best first, with per-stage timings in "
    "the `Server-Timing` header. See SERVING.md for the full contract.",
    "operationId": "rank_rank_post",
    "requestBody": {
        "required": True,
        "description": f'1 to {MAX_POSTS} posts, either wrapped as `{{"posts": [...]}}` or '
        "as a bare JSON array. Extra fields are rejected (422).",
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        _ref(RankRequest),
                        {
                            "type": "array",
                            "items": {"$ref": _SCHEMA_REF.format(model="PostIn")},
                            "minItems": 1,
                            "maxItems": MAX_POSTS,
                        },
                    ]
                },
                "examples": {
                    "wrapped": {"summary": '{"posts": [...]}', "value": {"posts": EXAMPLE_POSTS}},
                    "bare_array": {"summary": "[...]", "value": EXAMPLE_POSTS},
                },
            }
        },
    },
    "responses": {
        "200": {
            "description": "The posts, best first.",
            "headers": {
                "Server-Timing": {
                    "description": "Milliseconds per stage: validate, featurise, predict, "
                    "serialise.",
                    "schema": {"type": "string"},
                }
            },
            "content": {JSON: {"schema": _ref(RankResponse)}},
        },
        **{
            str(status): {
                "description": response["description"],
                "content": {JSON: {"schema": _ref(ErrorBody)}},
            }
            for status, response in ERROR_RESPONSES.items()
        },
    },
}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The routes FastAPI serves, plus ``/rank`` and the models only it uses."""
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (RankRequest, RankResponse, ErrorBody):
        definition = TypeAdapter(model).json_schema(ref_template=_SCHEMA_REF)
        for name, nested in definition.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components[model.__name__] = definition
    schema["paths"] = {RANK_PATH: {"post": RANK_OPERATION}, **schema.get("paths", {})}
    return schema
