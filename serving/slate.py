"""The slate both routes rank: posts as columns of their JSON values, and the user id.

``/rank`` builds it from the posts in its body (``rank_slate``), ``/rank/ids`` from the ids in
its body and the columns the feature server returns for them (``ids_request`` then
``stored_slate``). Both go through the same checks, decided here once: the JSON parse with its
duplicate-key guard, the bounds of ``features.schema.POST_SCHEMA``, distinct post ids, the
``X-User-Id`` header winning over the body's ``user_id``, and where each error points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jiter
import msgspec
import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from features.schema import ID_COLUMN, POST_FIELDS, POST_SCHEMA
from serving.errors import RETRY_AFTER, ApiError
from serving.schemas import (
    RANK_BODY,
    RANK_BODY_STRUCT,
    USER_ID,
    USER_ID_HEADER,
    PostStruct,
    RankIdsRequest,
    RankIdsStruct,
    duplicate_key,
    list_of,
    struct_type,
)

Loc = tuple[str | int, ...]
StoredPostsStruct: Final = msgspec.defstruct(
    "StoredPostsStruct", [(f.name, list_of(struct_type(f))) for f in POST_SCHEMA[1:]]
)
_RANK_IDS: Final = TypeAdapter(RankIdsRequest)
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Slate:
    """Posts in request order, as typed structs (what the response echoes) and as columns of
    their values (what the model reads), and who they are for."""

    posts: Sequence[Any]
    fields: Mapping[str, Sequence[Any]]
    user_id: str | None

    def __len__(self) -> int:
        return len(self.fields[ID_COLUMN])

    def table(self) -> dict[str, np.ndarray]:
        """The columns with the dtypes training used: int64 id, float64 numbers, object text."""
        table: dict[str, np.ndarray] = {}
        for field in POST_SCHEMA:
            values = self.fields[field.name]
            if field.kind is str:
                table[field.name] = np.empty(len(values), dtype=object)
                table[field.name][:] = values
            else:
                dtype = np.int64 if field.name == ID_COLUMN else np.float64
                table[field.name] = np.array(values, dtype=dtype)
        return table


def rank_slate(body: bytes, user_header: str | None) -> Slate:
    """A ``/rank`` body, ``{"posts": [...], "user_id"?: ...}`` or a bare array of posts.

    Raises:
        ApiError: 400 when the body is empty, not UTF-8 or not JSON.
        RequestValidationError: 422 when the JSON breaks the contract; ``loc`` starts with
            ``"body"``.
    """
    check_user_header(user_header)
    value = json_value(body)
    try:
        request = msgspec.convert(value, RANK_BODY_STRUCT, strict=True)
    except msgspec.ValidationError as error:
        # the first element of pydantic's loc is the body form's tag
        raise _explained(value, RANK_BODY, lambda loc: ("body", *loc[1:]), error) from None
    prefix: Loc = ("body",)
    if isinstance(request, list):
        posts, user_id = request, None
    else:
        posts, user_id = msgspec.structs.astuple(request)
        prefix = ("body", "posts")
    rows = [msgspec.structs.astuple(post) for post in posts]
    columns = zip(*rows, strict=True)
    fields = {field.name: column for field, column in zip(POST_SCHEMA, columns, strict=True)}
    _refuse_repeats(fields[ID_COLUMN], lambda index: (*prefix, index, ID_COLUMN))
    return Slate(posts, fields, user_header or user_id)


def ids_request(body: bytes, user_header: str | None) -> tuple[list[int], str | None]:
    """A ``/rank/ids`` body: its distinct post ids, and the user (the header wins).

    Raises:
        ApiError: 400 when the body is empty, not UTF-8 or not JSON.
        RequestValidationError: 422 when the JSON breaks the contract.
    """
    check_user_header(user_header)
    value = json_value(body)
    try:
        request = msgspec.convert(value, RankIdsStruct, strict=True)
    except msgspec.ValidationError as error:
        raise _explained(value, _RANK_IDS, lambda loc: ("body", *loc), error) from None
    post_ids, user_id = msgspec.structs.astuple(request)
    _refuse_repeats(post_ids, lambda index: ("body", "post_ids", index))
    return post_ids, user_header or user_id


def stored_slate(ids: list[int], columns: dict[str, list[Any]], user_id: str | None) -> Slate:
    """The slate of posts read from the feature store, held to the bounds a request's are.

    Raises:
        ApiError: 503 ``store_unavailable`` when a stored post breaks the schema.
    """
    try:
        msgspec.convert(
            {name: columns[name] for name in POST_FIELDS}, StoredPostsStruct, strict=True
        )
    except (msgspec.ValidationError, KeyError) as error:
        raise ApiError(
            503,
            "store_unavailable",
            f"the feature store returned posts that break the schema ({error}); nothing was "
            "ranked. Send the posts to /rank",
            headers=RETRY_AFTER,
        ) from None
    fields = {ID_COLUMN: ids, **{name: columns[name] for name in POST_FIELDS}}
    posts = [PostStruct(*row) for row in zip(*fields.values(), strict=True)]
    return Slate(posts, fields, user_id)


def check_user_header(user_header: str | None) -> None:
    """Refuses an ``X-User-Id`` header that breaks ``UserId`` (422, ``loc`` the header)."""
    if user_header is not None:
        try:
            USER_ID.validate_python(user_header)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("header", USER_ID_HEADER)} for e in error.errors(include_url=False)]
            ) from None


def json_value(body: bytes) -> Any:
    """The body's JSON value, parsed once by jiter with its duplicate-key check.

    Raises:
        ApiError: 400 when the body is empty, not UTF-8 or not JSON.
        RequestValidationError: 422 ``duplicate_key`` for a key repeated in one object.
    """
    if not body or body.isspace():
        raise ApiError(400, "empty_body", "request body is empty; send a JSON object")
    try:
        return jiter.from_json(body, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as error:
        raise _unparsable(body, str(error)) from None


def ranking_json(
    version: str, slate: Slate, scores: list[float], unknown: list[bool], notes: list[str]
) -> bytes:
    """The 200 body: best first (Python's sort is stable, so ties keep input order)."""
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    ids = slate.fields[ID_COLUMN]
    ranked = [
        {
            "rank": rank,
            "post_id": ids[index],
            "score": scores[index],
            "unknown_subreddit": unknown[index],
            "post": slate.posts[index],
        }
        for rank, index in enumerate(order, start=1)
    ]
    return _ENCODER.encode({"model_version": version, "ranked": ranked, "notes": notes})


def _refuse_repeats(ids: Sequence[int], loc_of: Callable[[int], Loc]) -> None:
    """422 ``duplicate_post_id`` at each repeat, naming the item that used the id first."""
    if len(set(ids)) == len(ids):
        return
    first_seen: dict[int, int] = {}
    errors = []
    for index, post_id in enumerate(ids):
        previous = first_seen.setdefault(post_id, index)
        if previous != index:
            errors.append(
                {
                    "type": "duplicate_post_id",
                    "loc": loc_of(index),
                    "msg": f"duplicate post_id {post_id}: already used by item {previous}",
                    "input": post_id,
                }
            )
    raise RequestValidationError(errors)


def _explained(
    value: Any,
    adapter: TypeAdapter[Any],
    located: Callable[[Loc], Loc],
    refusal: msgspec.ValidationError,
) -> Exception:
    """The 422 for a value msgspec refused, with pydantic's structured errors as details."""
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        return RequestValidationError(
            [{**e, "loc": located(e["loc"])} for e in error.errors(include_url=False)]
        )
    return ApiError(422, "validation_error", f"request body breaks the contract: {refusal}")


def _unparsable(body: bytes, message: str) -> Exception:
    """400 for bytes that are not UTF-8 JSON; 422 ``duplicate_key`` for a repeated key."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return ApiError(
            400,
            "invalid_encoding",
            f"request body is not valid UTF-8 (byte 0x{body[error.start]:02x} at offset "
            f"{error.start}); JSON must be UTF-8",
        )
    key = duplicate_key(body)
    if key is not None:
        return RequestValidationError(
            [
                {
                    "type": "duplicate_key",
                    "loc": ("body",),
                    "msg": f"{message}: a key may appear only once per object (JSON parsers "
                    "disagree on which value wins)",
                    "input": key,
                }
            ]
        )
    return ApiError(400, "invalid_json", f"request body is not valid JSON: {message}")
