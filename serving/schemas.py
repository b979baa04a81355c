"""The API contract: the one request type that validates ``/rank`` bodies, and the response.

Validation is strict on purpose. A ranking service that quietly coerces ``"12"`` to 12 or
``true`` to 1 hides client bugs that then surface as odd rankings, so wrong JSON types are
rejected, numbers must be finite and inside the physical ranges of ``features.schema``, unknown
fields are refused (a misspelt ``num_coments`` would otherwise be dropped silently), and so is a
key that appears twice in one object (JSON parsers disagree on which value wins).

A body is parsed once, by jiter with its duplicate-key check, and validated once, by pydantic
against ``RankBody``: the ``{"posts": [...]}`` form or a bare array, told apart by the JSON
value's type. Posts are validated into plain dicts (``PostIn``), which are what the response
echoes. An object may carry at most ``MAX_KEYS`` keys, so no body makes the validator describe
thousands of unknown fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal, NotRequired

import jiter
import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from features.schema import (
    CATEGORY_COLUMN,
    ID_COLUMN,
    NUMERIC_BOUNDS,
    RAW_COLUMNS,
    TEXT_COLUMN,
    Posts,
)
from serving.errors import ApiError
from serving.settings import MAX_POSTS

# Reddit caps titles at 300 characters and subreddit names at 21; a little slack for both.
MAX_TITLE_CHARS: Final = 300
MAX_SUBREDDIT_CHARS: Final = 64
MAX_POST_ID: Final = 2**63 - 1  # the id travels as int64 through the feature code
MAX_USER_ID_CHARS: Final = 256
# a post has 8 fields: twice that leaves room to name a few misspellings one by one
MAX_KEYS: Final = 16

_DUPLICATE_KEY: Final = re.compile(
    r'Detected duplicate key "(.*)" at line \d+ column \d+', re.DOTALL
)

STRICT: Final = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

# at least one non-space character: HTTP strips a header value's surrounding whitespace, so an
# id of spaces alone could not travel in X-User-Id
UserId = Annotated[str, Field(min_length=1, max_length=MAX_USER_ID_CHARS, pattern=r"\S")]


def _bounded_keys(value: Any) -> Any:
    """Refuses an object with more than ``MAX_KEYS`` keys in one error, before its fields."""
    if isinstance(value, dict) and len(value) > MAX_KEYS:
        raise PydanticCustomError(
            "too_many_fields",
            "object has {count} fields, at most {limit} are accepted (see the schema)",
            {"count": len(value), "limit": MAX_KEYS},
        )
    return value


def _within(column: str, description: str, whole: bool = True) -> Any:
    """Bounds from ``features.schema.NUMERIC_BOUNDS``, the CSV reader's bounds too."""
    low, high = NUMERIC_BOUNDS[column]
    if whole:
        return Field(ge=int(low), le=int(high), description=description)
    return Field(ge=low, le=high, description=description)


EXAMPLE_POSTS: Final[list[JsonValue]] = [
    {
        "post_id": post_id,
        "title": "breaking update thread discussion",
        "subreddit": subreddit,
        "score": score,
        "num_comments": 87,
        "upvote_ratio": 0.91,
        "post_age_hours": age,
        "author_karma": 15200,
    }
    for post_id, subreddit, score, age in (
        (101, "science", 1450, 2.5),
        (102, "gaming", 35, 30.0),
        (103, "brand_new_subreddit", 640, 6.0),
    )
]


@with_config(ConfigDict(**STRICT, json_schema_extra={"examples": [EXAMPLE_POSTS[0]]}))
class PostIn(TypedDict):
    """One candidate post: the training schema minus the ``engaged`` label."""

    post_id: Annotated[
        int, Field(ge=0, le=MAX_POST_ID, description="Unique within the request (int64).")
    ]
    title: Annotated[str, Field(max_length=MAX_TITLE_CHARS, description="Post title.")]
    subreddit: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_SUBREDDIT_CHARS,
            description="Case-sensitive. A name not seen in training is scored with the "
            "fallback described in SERVING.md and flagged as `unknown_subreddit`.",
        ),
    ]
    score: Annotated[int, _within("score", "Net votes (JSON integer).")]
    num_comments: Annotated[int, _within("num_comments", "Comment count (JSON integer).")]
    upvote_ratio: Annotated[
        float, _within("upvote_ratio", "Share of votes that are upvotes, in [0, 1].", False)
    ]
    post_age_hours: Annotated[
        float, _within("post_age_hours", "Hours since posting (finite, non-negative).", False)
    ]
    author_karma: Annotated[int, _within("author_karma", "Author's karma (JSON integer).")]


Post = Annotated[PostIn, BeforeValidator(_bounded_keys)]
PostList = Annotated[
    list[Post],
    Field(
        min_length=1,
        max_length=MAX_POSTS,
        description=f"1 to {MAX_POSTS} posts with distinct `post_id`s.",
    ),
]


@with_config(ConfigDict(**STRICT, json_schema_extra={"examples": [{"posts": EXAMPLE_POSTS}]}))
class RankRequest(TypedDict):
    """The wrapped form of the request body; a bare JSON array of posts is accepted too."""

    posts: PostList
    user_id: NotRequired[
        Annotated[
            UserId | None,
            Field(
                description="Optional: who the feed is for. Assigns the A/B arm when a "
                "challenger runs in ab mode (the `X-User-Id` header takes precedence)."
            ),
        ]
    ]


_USER_ID: Final = TypeAdapter(UserId)
USER_ID_HEADER: Final = "X-User-Id"
USER_ID_PARAMETER: Final = {
    "name": USER_ID_HEADER,
    "in": "header",
    "required": False,
    "description": "Who the feed is for: assigns the A/B arm (wins over `user_id`).",
    "schema": _USER_ID.json_schema(),
}


def _body_form(value: Any) -> Literal["wrapped", "bare"] | None:
    if isinstance(value, dict):
        return "wrapped"
    return "bare" if isinstance(value, list) else None


RankBody = Annotated[
    Annotated[Annotated[RankRequest, BeforeValidator(_bounded_keys)], Tag("wrapped")]
    | Annotated[PostList, Tag("bare")],
    Discriminator(
        _body_form,
        custom_error_type="body_type",
        custom_error_message='body must be a JSON object {"posts": [...]} or a JSON array of posts',
    ),
]
_RANK_BODY: Final = TypeAdapter(RankBody)


class RankedPost(BaseModel):
    """One post of the ranking, best first.

    The prediction is ``score`` as the API contract names it; because the input also has a
    field called ``score`` (Reddit's net votes), the input is echoed untouched under ``post``
    rather than flattened beside it, and ``post_id`` is repeated at the top for joining.
    """

    rank: Annotated[int, Field(ge=1, description="1-based position after sorting.")]
    post_id: int
    score: Annotated[
        float,
        Field(
            ge=0.0,
            le=1.0,
            description="Calibrated P(engaged). A pure function of this post: the same post "
            "gets the same score whatever else is in the request.",
        ),
    ]
    unknown_subreddit: Annotated[
        bool, Field(description="True when the subreddit was not seen in training.")
    ]
    post: PostIn


class RankResponse(BaseModel):
    """Posts sorted by ``score`` descending; ties keep their input order."""

    model_version: str
    ranked: list[RankedPost]
    notes: Annotated[
        list[str],
        Field(description="Human-readable remarks, e.g. which posts used a fallback."),
    ]


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    model_version: str
    feature_store: Annotated[str, Field(description="`ok`, or why /rank/ids answers 503.")]


class ModelInfo(BaseModel):
    """What is deployed: enough to tie a ranking back to a training run."""

    model_version: str
    family: str
    feature_names: list[str]
    metrics: dict[str, Any]
    model_sha256: str
    known_subreddits: list[str]
    unknown_subreddit_fallback: str
    max_posts: int
    metadata: Annotated[
        dict[str, Any], Field(description="Remaining training metadata, as written.")
    ]


class RankInput(TypedDict):
    """A validated body: its posts in request order and the user it ranks for, if named."""

    posts: list[PostIn]
    user_id: str | None


def parse_rank_body(body: bytes, user_header: str | None = None) -> RankInput:
    """Parses and validates a ``/rank`` body: 1-20 posts with distinct ids, and the user:
    ``user_header`` (the ``X-User-Id`` header) if given, else the body's ``user_id``.

    Raises:
        ApiError: 400 when the body is empty, not UTF-8 or not JSON.
        RequestValidationError: 422 when the JSON breaks the contract, including a key that
            appears twice in one object; ``loc`` starts with ``"body"``.
    """
    checked_user_header(user_header)
    try:
        validated = _RANK_BODY.validate_python(json_value(body))
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"][1:])} for e in error.errors(include_url=False)]
        ) from None
    prefix: tuple[str, ...]
    if isinstance(validated, list):
        posts, user_id, prefix = validated, None, ("body",)
    else:
        posts, user_id, prefix = validated["posts"], validated.get("user_id"), ("body", "posts")
    _check_unique_ids(posts, prefix)
    return {"posts": posts, "user_id": user_header or user_id}


def checked_user_header(user_header: str | None) -> None:
    """Refuses an ``X-User-Id`` header that breaks ``UserId`` (422, ``loc`` the header)."""
    if user_header is not None:
        try:
            _USER_ID.validate_python(user_header)
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
    if not body.strip():
        raise ApiError(400, "empty_body", "request body is empty; send a JSON object")
    try:
        return jiter.from_json(body, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as error:
        raise _unparsable(body, str(error)) from None


def columns(posts: Sequence[PostIn], names: Sequence[str]) -> Posts:
    """The ``names`` columns with the dtypes training used: int64 id, float64 numbers, object
    text. The numbers go through one (columns, posts) array, each row a contiguous column."""
    numeric = [name for name in RAW_COLUMNS if name in names]
    numbers = np.array([[post[n] for post in posts] for n in numeric], dtype=np.float64)  # type: ignore[literal-required]
    out: dict[str, np.ndarray] = dict(zip(numeric, numbers, strict=True))
    for name in names:
        if name == ID_COLUMN:
            out[name] = np.array([post["post_id"] for post in posts], dtype=np.int64)
        elif name in (TEXT_COLUMN, CATEGORY_COLUMN):
            text = np.empty(len(posts), dtype=object)
            text[:] = [post[name] for post in posts]  # type: ignore[literal-required]
            out[name] = text
    return out


def ranking_json(
    version: str,
    posts: Sequence[PostIn],
    scores: Sequence[float],
    unknown: Sequence[bool],
    notes: list[str],
) -> bytes:
    """The 200 body: best first (Python's sort is stable, so ties keep input order)."""
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    ranked = [
        {
            "rank": rank,
            "post_id": posts[index]["post_id"],
            "score": scores[index],
            "unknown_subreddit": unknown[index],
            "post": posts[index],
        }
        for rank, index in enumerate(order, start=1)
    ]
    return orjson.dumps({"model_version": version, "ranked": ranked, "notes": notes})


def _check_unique_ids(posts: list[PostIn], prefix: tuple[str, ...]) -> None:
    if len({post["post_id"] for post in posts}) == len(posts):
        return
    first_seen: dict[int, int] = {}
    errors = []
    for index, post in enumerate(posts):
        previous = first_seen.setdefault(post["post_id"], index)
        if previous != index:
            errors.append(
                {
                    "type": "duplicate_post_id",
                    "loc": (*prefix, index, "post_id"),
                    "msg": f"duplicate post_id {post['post_id']}: already used by item {previous}",
                    "input": post["post_id"],
                }
            )
    raise RequestValidationError(errors)


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
    duplicate = _DUPLICATE_KEY.fullmatch(message)
    if duplicate is not None:
        return RequestValidationError(
            [
                {
                    "type": "duplicate_key",
                    "loc": ("body",),
                    "msg": f"{message}: a key may appear only once per object (JSON parsers "
                    "disagree on which value wins)",
                    "input": duplicate.group(1),
                }
            ]
        )
    return ApiError(400, "invalid_json", f"request body is not valid JSON: {message}")
