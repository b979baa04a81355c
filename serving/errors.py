"""One JSON error body for every failure, and the handlers that produce it.

FastAPI's default 422 body is a bare list of pydantic errors and other failures use
``{"detail": ...}``; clients then need one parser per status. Here every 4xx/5xx answer is an
``ErrorBody``: a short code, a one-line message, and details saying which post (``item``),
which field and what was wrong. ``ERROR_RESPONSES`` puts the same schema into OpenAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from serving.settings import MAX_POSTS

logger = logging.getLogger("feedrank.serving")

RETRY_AFTER: Final = {"Retry-After": "1"}
MAX_DETAILS: Final = 50
MAX_INPUT_CHARS: Final = 80


class ErrorDetail(BaseModel):
    """One problem with the request, located as precisely as the input allows."""

    item: Annotated[
        int | None, Field(description="0-based index of the offending post, if any.")
    ] = None
    field: Annotated[str | None, Field(description="Offending field of that post, if any.")] = None
    loc: Annotated[
        list[str | int], Field(description="Full path, e.g. ['body', 'posts', 3, 'score'].")
    ]
    type: Annotated[str, Field(description="Machine-readable error type.")]
    message: str
    input: Annotated[
        str | int | float | bool | None,
        Field(description="The offending scalar value (long strings are cut), if any."),
    ] = None


class ErrorBody(BaseModel):
    """The one error shape every 4xx and 5xx answer uses."""

    status: int
    error: Annotated[
        str, Field(description="Short code, e.g. validation_error, payload_too_large.")
    ]
    message: Annotated[str, Field(description="One-line summary for humans.")]
    details: list[ErrorDetail]


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "Body is empty, not JSON, or not UTF-8."},
    408: {
        "model": ErrorBody,
        "description": "`request_timeout`: the body did not arrive within the body timeout.",
    },
    413: {"model": ErrorBody, "description": "Body larger than the configured limit."},
    415: {
        "model": ErrorBody,
        "description": "Content-Type is not application/json, or the body is compressed "
        "(any Content-Encoding but identity).",
    },
    422: {
        "model": ErrorBody,
        "description": f"Valid JSON that breaks the contract: not 1-{MAX_POSTS} posts, missing, "
        "unknown or mistyped fields, non-finite or out-of-range numbers, duplicate post_ids.",
    },
    503: {
        "model": ErrorBody,
        "description": "`not_ready`: the model is not loaded yet (the service is starting). "
        "`model_error`: the model raised on valid posts; nothing was ranked. `overloaded`: "
        "sent by the edge proxy when a request would wait past its queue budget. All carry "
        "`Retry-After`; the request is safe to retry, on this replica or another.",
    },
}


class ApiError(Exception):
    """An error that maps to one HTTP status and an ``ErrorBody``."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def not_ready() -> ApiError:
    """503 before start-up has loaded the model."""
    return ApiError(503, "not_ready", "model not loaded yet; retry shortly", headers=RETRY_AFTER)


def error_response(
    status: int,
    error: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_json(status, error, message, details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_json(status: int, error: str, message: str, details: Sequence[ErrorDetail] = ()) -> bytes:
    body = ErrorBody(status=status, error=error, message=message, details=list(details))
    return orjson.dumps(body.model_dump())


def details_from_errors(errors: Iterable[Mapping[str, Any]]) -> list[ErrorDetail]:
    """Turns pydantic-style error dicts (``loc``, ``msg``, ``type``, ``input``) into details."""
    details = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        item, field = _item_and_field(loc)
        details.append(
            ErrorDetail(
                item=item,
                field=field,
                loc=loc,
                type=str(error.get("type", "invalid")),
                message=_message(error, loc),
                input=_scalar(error.get("input")),
            )
        )
    return details


def summarise(details: Sequence[ErrorDetail], total: int | None = None) -> str:
    """One line for humans: how many problems (``total``, default all of ``details``) and the
    first one, with its path."""
    if not details:
        return "invalid request body"
    first = details[0]
    path = _path(first.loc)
    total = len(details) if total is None else total
    count = f"{total} problems" if total > 1 else "1 problem"
    shown = f" ({len(details)} listed)" if total > len(details) else ""
    return f"{count} in the request body{shown}; first: {path}: {first.message}"


def client_error_response(exc: Exception, method: str, path: str) -> Response | None:
    """The error body for a failure the client caused (None for anything else)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.error, exc.message, exc.details, exc.headers)
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        details = details_from_errors(errors[:MAX_DETAILS])
        return error_response(422, "validation_error", summarise(details, len(errors)), details)
    if isinstance(exc, ClientDisconnect):
        # the client's doing, not a server error: one log line, no traceback, counted as 499
        # (nginx's "client closed request"); the answer goes nowhere, /metrics records it
        logger.info("client closed the connection before sending all of %s %s (499)", method, path)
        return error_response(
            499, "client_closed_request", "the client closed the connection mid-request"
        )
    if isinstance(exc, StarletteHTTPException):
        phrase = HTTPStatus(exc.status_code).phrase
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
    return None


def internal_error_response(exc: Exception, method: str, path: str) -> Response:
    """A bug: its traceback goes to the log, only its type to the client."""
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__})")


def install_error_handlers(app: FastAPI) -> None:
    """Routes every failure through ``error_response``."""

    async def on_client_error(request: Request, exc: Exception) -> Response:
        response = client_error_response(exc, request.method, request.url.path)
        assert response is not None  # registered for the client-error types only
        return response

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return internal_error_response(exc, request.method, request.url.path)

    for client_error in (
        ApiError,
        RequestValidationError,
        ClientDisconnect,
        StarletteHTTPException,
    ):
        app.add_exception_handler(client_error, on_client_error)
    app.add_exception_handler(Exception, on_unexpected)


def _item_and_field(loc: Sequence[str | int]) -> tuple[int | None, str | None]:
    """``['body', 'posts', 3, 'score']`` -> (3, 'score'); no post index -> (None, None)."""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            rest = loc[position + 1 : position + 2]
            return part, (str(rest[0]) if rest else None)
    return None, None


def _message(error: Mapping[str, Any], loc: Sequence[str | int]) -> str:
    kind = error.get("type")
    context = error.get("ctx") or {}
    at_list = bool(loc) and not isinstance(loc[-1], int) and _item_and_field(loc)[0] is None
    if at_list and kind == "too_short":
        return f"expected 1 to {MAX_POSTS} posts, got {context.get('actual_length', 0)}"
    if at_list and kind == "too_long":
        return f"expected 1 to {MAX_POSTS} posts, got {context.get('actual_length', 'more')}"
    if kind == "extra_forbidden":
        return "unknown field (extra fields are rejected; check the spelling)"
    return str(error.get("msg", "invalid value"))


def _scalar(value: Any) -> str | int | float | bool | None:
    if isinstance(value, str):
        return value if len(value) <= MAX_INPUT_CHARS else value[:MAX_INPUT_CHARS] + "..."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return str(value)  # beyond int64: JSON encoders refuse it, so echo its digits
    if isinstance(value, bool | int | float):
        return value
    return None


def _path(loc: Sequence[str | int]) -> str:
    parts = [part for part in loc if part != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"
