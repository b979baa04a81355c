"""``/rank`` as a plain ASGI callable, outside FastAPI's router.

FastAPI's per-request machinery (route matching, dependency solving, the request object, the
exception middleware and three more wrappers) costs more CPU than validating, scoring and
serialising a 20-post slate (SERVING.md, "Performance"). ``serving.gateway`` therefore hands
``/rank`` straight to ``RankEndpoint``, which does only what the contract needs: the readiness,
media-type and size checks, reading the body by a deadline, ranking, and one error body for
every failure (``serving.errors``, the same mapping the framework's handlers use). The OpenAPI
operation is declared in ``serving.openapi``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from serving.config import MAX_POSTS, EdgeSettings
from serving.edge import check_content_encoding, edge_settings
from serving.errors import RETRY_AFTER, ApiError, client_error_response, not_ready
from serving.model import ModelFailure
from serving.parsing import check_content_type
from serving.rollout import USER_HEADER

RANK_PATH: Final = "/rank"
_JSON: Final = b"application/json"
_WANTED: Final = frozenset(
    {b"content-type", b"content-encoding", b"content-length", USER_HEADER.encode()}
)

logger = logging.getLogger("uvicorn.error")

After = Callable[[], Awaitable[None]]


class RankEndpoint:
    """Serves ``/rank``; returns the status sent and the work to run after the response.

    Reads the app's ``state`` per request (the model is loaded after this object is built, and
    tests swap the ranker's methods).
    """

    def __init__(self, state: State, edge: EdgeSettings | None) -> None:
        self.state = state
        self.edge = edge

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[int, After | None]:
        try:
            body, user = await self._read(scope, receive)
            outcome, after = self.state.rollout.rank(body, user)
        except ModelFailure as failure:
            error: Exception = self._model_failed(failure)
        except (ApiError, RequestValidationError, ClientDisconnect) as refused:
            error = refused
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", _JSON),
                        (b"content-length", b"%d" % len(outcome.body)),
                        (b"server-timing", outcome.timings.server_timing().encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": outcome.body})
            return 200, after
        response = client_error_response(error, scope["method"], RANK_PATH)
        assert response is not None  # ApiError, validation and disconnect all have a mapping
        await response(scope, receive, send)
        return response.status_code, None

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, str | None]:
        """The checks before ranking, in the order a client would fix them; body and user id."""
        if scope["method"] != "POST":
            raise ApiError(
                405, "method_not_allowed", "Method Not Allowed", headers={"Allow": "POST"}
            )
        if getattr(self.state, "ranker", None) is None:
            raise not_ready()
        headers = {
            name.decode(): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _WANTED
        }
        check_content_type(headers.get("content-type"))
        check_content_encoding(headers.get("content-encoding"))
        limits = self.edge or edge_settings()
        limit = self.state.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        try:
            async with asyncio.timeout(limits.body_timeout):
                body = await _read_body(receive, limit)
        except TimeoutError:
            raise ApiError(
                408,
                "request_timeout",
                f"the request body did not arrive within {limits.body_timeout:g} s",
                headers={"Connection": "close"},
            ) from None
        return body, headers.get(USER_HEADER)

    def _model_failed(self, failure: ModelFailure) -> ApiError:
        self.state.metrics.model_error()
        logger.exception("%s", failure)  # the traceback shows the model's own exception
        cause = type(failure.__cause__).__name__
        return ApiError(
            503,
            "model_error",
            f"the model failed to score these posts ({cause}); the request was valid and "
            "nothing was ranked. Retry, or fall back to your own ordering",
            headers=RETRY_AFTER,
        )


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"request body exceeds {limit} bytes; send at most {MAX_POSTS} posts per request",
    )
