"""From request bytes to validated posts, with a clear 4xx for every way that can fail.

The body is validated straight from bytes by pydantic-core (parsing and validation in one
pass), into plain dicts (``PostFields``): the same constraints as ``PostIn``, a third cheaper to
build, and already the shape the response echoes. The top-level shape is chosen by the first
byte, so a bare array and ``{"posts": [...]}`` each get error locations without the noise of a
failed union branch. Any body the fast path refuses is validated again against the ``PostIn``
models, so every error body is exactly the documented one; only valid bodies take the fast path.

Duplicate keys (``{"score": 1, "score": 900}``), which every common JSON library resolves
silently to the last value, are refused. Counting colons proves their absence for almost every
body at ~1/20 of the cost of re-parsing (``_keys_provably_unique``); when it cannot, jiter
(pydantic's own parser) re-parses the body with duplicate detection.
"""

from __future__ import annotations

import re
from typing import Final

import jiter
import pydantic_core
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from serving.config import MAX_POSTS
from serving.errors import MAX_DETAILS, ApiError, TruncatedValidationError
from serving.schemas import PostFields, PostFieldsList, PostIn, Posts, RankFields, RankRequest

_WRAPPED: Final = TypeAdapter(RankRequest)
_BARE: Final = TypeAdapter(Posts)
_FAST_WRAPPED: Final = TypeAdapter(RankFields)
_FAST_BARE: Final = TypeAdapter(PostFieldsList)
_AS_FIELDS: Final = TypeAdapter(list[PostIn])
_POST_FIELDS: Final = len(PostFields.__annotations__)
# 20 posts with 300-character titles are ~15 KB of JSON. Larger bodies (an unknown-key flood,
# say) skip the fast path, which would otherwise refuse them only for the models to validate
# them again; a larger valid body is still accepted, by the models.
FAST_PATH_MAX_BYTES: Final = 64 * 1024
_JSON_WHITESPACE: Final = b" \t\r\n"
_POST_KEYS: Final = frozenset(PostIn.model_fields)
_REQUEST_KEYS: Final = frozenset(RankRequest.model_fields)
# A valid body has at most this many keys, so at most this many ':' outside its strings.
_FLOOD_COLONS: Final = len(_REQUEST_KEYS) + len(_POST_KEYS) * MAX_POSTS + MAX_DETAILS
_DUPLICATE_KEY: Final = re.compile(
    r'Detected duplicate key "(.*)" at (line \d+ column \d+)', re.DOTALL
)


def check_content_type(content_type: str | None) -> None:
    """Accepts ``application/json`` (or ``*/*+json``), UTF-8 only; a missing header is allowed.

    Raises:
        ApiError: 415 naming the media type that was sent.
    """
    if not content_type:
        return
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
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


def parse_posts(body: bytes) -> list[PostFields]:
    """Validates a request body into 1-20 posts with distinct ids.

    Args:
        body: The raw request body: ``{"posts": [...]}`` or a bare JSON array.

    Returns:
        The posts in request order, as dicts with ``PostIn``'s fields in its order.

    Raises:
        ApiError: 400 when the body is empty, not UTF-8 or not JSON.
        RequestValidationError: 422 when the JSON breaks the contract, including a key that
            appears twice in one object.
    """
    stripped = body.lstrip(_JSON_WHITESPACE)
    bare = stripped[:1] == b"["
    fields = None
    if len(body) <= FAST_PATH_MAX_BYTES and stripped[:1] in (b"[", b"{"):
        try:
            fields = (
                _FAST_BARE.validate_json(body)
                if bare
                else _FAST_WRAPPED.validate_json(body)["posts"]
            )
        except ValidationError:
            fields = None
    if fields is None:  # refused: the PostIn models say why, with the documented error body
        fields = _AS_FIELDS.dump_python(_validate_models(body, stripped))
    if not _keys_provably_unique(body, len(fields), wrapped=not bare):
        _check_no_duplicate_keys(body)
    _check_unique_ids(fields, bare=bare)
    return fields


def _validate_models(body: bytes, stripped: bytes) -> list[PostIn]:
    if not stripped:
        raise ApiError(400, "empty_body", 'request body is empty; send {"posts": [...]}')
    _check_unknown_key_flood(body)
    try:
        if stripped[:1] == b"[":
            posts = _BARE.validate_json(body)
        elif stripped[:1] == b"{":
            posts = _WRAPPED.validate_json(body).posts
        else:
            raise _wrong_top_level(body)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise _not_json(body, errors[0]["msg"]) from None
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
    return posts


def _check_unknown_key_flood(body: bytes) -> None:
    """Unknown keys are the one error a body can repeat by the thousand (a 256 KiB body holds
    ~28,000); pydantic would build every one, ~50x the cost of a valid request, though only
    ``MAX_DETAILS`` are reported. Past that many, report them from one cheap parse instead.
    A body with few colons cannot hold that many keys and skips the parse."""
    if body.count(b":") <= _FLOOD_COLONS:
        return
    try:
        value = jiter.from_json(body, cache_mode="keys")
    except ValueError:
        return  # not JSON: validation reports it
    prefix: tuple[str, ...] = ("body",)
    posts = value
    errors: list[dict[str, object]] = []
    total = 0
    if isinstance(value, dict):
        posts, prefix = value.get("posts"), ("body", "posts")
        total += _unknown_keys(value, _REQUEST_KEYS, ("body",), errors)
    if isinstance(posts, list):
        for index, post in enumerate(posts):
            if isinstance(post, dict):
                total += _unknown_keys(post, _POST_KEYS, (*prefix, index), errors)
    if total > MAX_DETAILS:
        raise TruncatedValidationError(errors, total)


def _unknown_keys(
    value: dict[str, object],
    known: frozenset[str],
    loc: tuple[str | int, ...],
    errors: list[dict[str, object]],
) -> int:
    """Counts ``value``'s unknown keys, describing them (pydantic's way) up to MAX_DETAILS."""
    unknown = [key for key in value if key not in known]
    for key in unknown[: max(MAX_DETAILS - len(errors), 0)]:
        errors.append(
            {
                "type": "extra_forbidden",
                "loc": (*loc, key),
                "msg": "Extra inputs are not permitted",
                "input": value[key],
            }
        )
    return len(unknown)


def _keys_provably_unique(body: bytes, n_posts: int, wrapped: bool) -> bool:
    """True when counting colons proves that no object in a *validated* body repeats a key.

    Outside strings, every ``:`` of a JSON text separates a key from its value; inside strings
    a ``:`` only adds to the count. Validation leaves each post with all eight of ``PostIn``'s
    keys (required, extras refused, values scalars) and the wrapper with ``posts`` alone, so
    the body holds at least ``8 * n_posts (+ 1)`` keys. A colon count equal to that bound
    leaves no room for a repeated key. Otherwise (a title with a
    colon, say) the body is re-parsed by jiter, which decides; tests/test_api_duplicate_keys.py
    checks that the two agree.
    """
    return body.count(b":") == _POST_FIELDS * n_posts + (1 if wrapped else 0)


def _check_no_duplicate_keys(body: bytes) -> None:
    """``{"score": 1, "score": 900}`` validates (the last value wins) but is a client bug that
    would be scored silently; refuse it. About 23 us for 20 posts (SERVING.md)."""
    try:
        jiter.from_json(body, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as error:
        duplicate = _DUPLICATE_KEY.fullmatch(str(error))
        if duplicate is None:
            raise _not_json(body, str(error)) from None
        key, where = duplicate.groups()
        raise RequestValidationError(
            [
                {
                    "type": "duplicate_key",
                    "loc": ("body",),
                    "msg": f"duplicate key {key!r} at {where}: a key may appear only once per "
                    "object (JSON parsers disagree on which value wins)",
                    "input": key,
                }
            ]
        ) from None


def _check_unique_ids(posts: list[PostFields], bare: bool) -> None:
    if len({post["post_id"] for post in posts}) == len(posts):
        return
    first_seen: dict[int, int] = {}
    errors = []
    for index, post in enumerate(posts):
        post_id = post["post_id"]
        previous = first_seen.setdefault(post_id, index)
        if previous != index:
            loc = ("body", index, "post_id") if bare else ("body", "posts", index, "post_id")
            errors.append(
                {
                    "type": "duplicate_post_id",
                    "loc": loc,
                    "msg": f"duplicate post_id {post_id}: already used by item {previous}",
                    "input": post_id,
                }
            )
    if errors:
        raise RequestValidationError(errors)


def _not_json(body: bytes, message: str) -> ApiError:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return ApiError(
            400,
            "invalid_encoding",
            f"request body is not valid UTF-8 (byte 0x{body[error.start]:02x} at offset "
            f"{error.start}); JSON must be UTF-8",
        )
    return ApiError(400, "invalid_json", f"request body is not valid JSON: {message}")


def _wrong_top_level(body: bytes) -> Exception:
    try:
        value = pydantic_core.from_json(body)
    except ValueError as error:
        return _not_json(body, str(error))
    kind = "null" if value is None else type(value).__name__
    return RequestValidationError(
        [
            {
                "type": "body_type",
                "loc": ("body",),
                "msg": f'body must be a JSON object {{"posts": [...]}} or a JSON array of '
                f"posts, got {kind}",
                "input": value if isinstance(value, str | int | float | bool) else None,
            }
        ]
    )
