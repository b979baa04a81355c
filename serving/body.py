"""Reading a request's body as the application's contract says: JSON, UTF-8, uncompressed,
within a size limit and a deadline, each refused with the status a client can act on.

The edge proxy bounds headers, slow clients and connections; these limits stay in the service
because they belong to its API: the error body names the limit, and the service run alone
(``docker run``) keeps them.
"""

from __future__ import annotations

import asyncio
from typing import Final

from fastapi import Request

from serving.errors import ApiError
from serving.settings import MAX_POSTS, Settings

JSON: Final = "application/json"


async def read_body(request: Request, settings: Settings) -> bytes:
    """The JSON body, refused as a client would fix it: media type (415), encoding (415), size
    (413, from ``Content-Length`` before reading, else as the bytes arrive), deadline (408).

    FastAPI's own ``max_body_size`` answers a declared oversized body in plain text, so the
    limit is checked here, where the answer is the error body.

    Raises:
        ApiError: The status above, with the error body.
        ClientDisconnect: The client left mid-body (recorded as 499).
    """
    content_types = request.headers.getlist("content-type")
    if len(set(content_types)) > 1:
        raise ApiError(
            400,
            "conflicting_content_type",
            f"{len(content_types)} different Content-Type headers; send exactly one",
        )
    _check_content_type(content_types[0] if content_types else None)
    _check_content_encoding(request.headers.get("content-encoding"))
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"the request body did not arrive within {settings.body_timeout:g} s",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _check_content_type(content_type: str | None) -> None:
    """``application/json`` (or ``*/*+json``), UTF-8 only; a missing header is read as JSON."""
    if not content_type:
        return
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {media_type or 'nothing'!r} "
            "(with curl, add -H 'Content-Type: application/json')",
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise ApiError(
                415, "unsupported_media_type", f"JSON must be UTF-8, got charset={charset!r}"
            )


def _check_content_encoding(content_encoding: str | None) -> None:
    """Only an uncompressed body is accepted; a compressed one is refused by name."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity"):
        message = f"Content-Encoding {encoding!r} is not supported; send the JSON uncompressed"
        raise ApiError(415, "unsupported_content_encoding", f"{message} (a full request is ~15 KB)")


def _too_large(limit: int) -> ApiError:
    """413; the rest of the body is never read, so the connection cannot carry another request."""
    return ApiError(
        413,
        "payload_too_large",
        f"request body exceeds {limit} bytes; send at most {MAX_POSTS} posts per request",
        headers={"Connection": "close"},
    )
