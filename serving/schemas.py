"""The API contract: the request types of ``/rank`` and ``/rank/ids``, and the responses.

Validation is strict on purpose. A ranking service that quietly coerces ``"12"`` to 12 or
``true`` to 1 hides client bugs that then surface as odd rankings, so wrong JSON types are
rejected, numbers must be finite and inside the bounds of ``features.schema.POST_SCHEMA``,
unknown fields are refused (a misspelt ``num_coments`` would otherwise be dropped silently),
and so is a key that appears twice in one object (JSON parsers disagree on which value wins).

Every type here derives from ``POST_SCHEMA``. A body is parsed once, by jiter with its
duplicate-key check, and converted once, by msgspec into typed structs: the fast path every
valid request takes. msgspec reports only the first problem, as text, so a body it refuses is
validated again by the pydantic types, whose structured errors become the 422's details; they
also describe the request in OpenAPI.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal, NotRequired, cast

import msgspec
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from features.schema import POST_SCHEMA, PostField, example_post
from serving.settings import MAX_POSTS

MAX_USER_ID_CHARS: Final = 256
# a post has 8 fields: twice that leaves room to name a few misspellings one by one
MAX_KEYS: Final = 16
STRICT: Final = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
# at least one non-space character: HTTP strips a header value's surrounding whitespace, so an
# id of spaces alone could not travel in X-User-Id
_USER_ID_PATTERN: Final = r"\S"
USER_ID_DESCRIPTION: Final = (
    "Optional: who the feed is for. Assigns the A/B arm when a challenger runs in ab mode "
    "(the `X-User-Id` header takes precedence)."
)

EXAMPLE_POSTS: Final[list[JsonValue]] = [
    example_post(post_id=post_id, subreddit=subreddit, score=score, post_age_hours=age)
    for post_id, subreddit, score, age in (
        (101, "science", 1450, 2.5),
        (102, "gaming", 35, 30.0),
        (103, "brand_new_subreddit", 640, 6.0),
    )
]


# -- msgspec: the fast path ------------------------------------------------------------------


def list_of(item: Any) -> Any:
    """``list[item]`` for a type built at run time."""
    return cast(Any, list)[item]


def struct_type(field: PostField) -> Any:
    """A field's type with its bounds, as msgspec checks it."""
    if field.kind is str:
        return Annotated[str, msgspec.Meta(min_length=int(field.low), max_length=int(field.high))]
    if field.kind is int:
        return Annotated[int, msgspec.Meta(ge=int(field.low), le=int(field.high))]
    return Annotated[float, msgspec.Meta(ge=field.low, le=field.high)]


UserIdStruct = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID_CHARS, pattern=_USER_ID_PATTERN)
]
PostStruct: Final = msgspec.defstruct(
    "PostStruct", [(f.name, struct_type(f)) for f in POST_SCHEMA], forbid_unknown_fields=True
)
PostsStruct = Annotated[list[PostStruct], msgspec.Meta(min_length=1, max_length=MAX_POSTS)]  # type: ignore[valid-type]
RankRequestStruct: Final = msgspec.defstruct(
    "RankRequestStruct",
    [("posts", PostsStruct), ("user_id", UserIdStruct | None, None)],
    forbid_unknown_fields=True,
)
RANK_BODY_STRUCT: Final[Any] = RankRequestStruct | PostsStruct
RankIdsStruct: Final = msgspec.defstruct(
    "RankIdsStruct",
    [
        (
            "post_ids",
            Annotated[
                list_of(struct_type(POST_SCHEMA[0])),
                msgspec.Meta(min_length=1, max_length=MAX_POSTS),
            ],
        ),
        ("user_id", UserIdStruct | None, None),
    ],
    forbid_unknown_fields=True,
)


# -- pydantic: the structured errors and the OpenAPI document ---------------------------------


def _bounded_keys(value: Any) -> Any:
    """Refuses an object with more than ``MAX_KEYS`` keys in one error, before its fields."""
    if isinstance(value, dict) and len(value) > MAX_KEYS:
        raise PydanticCustomError(
            "too_many_fields",
            "object has {count} fields, at most {limit} are accepted (see the schema)",
            {"count": len(value), "limit": MAX_KEYS},
        )
    return value


def model_type(field: PostField) -> Any:
    """A field's type with its bounds and description, as pydantic checks and documents it."""
    if field.kind is str:
        return Annotated[
            str,
            Field(
                min_length=int(field.low), max_length=int(field.high), description=field.description
            ),
        ]
    if field.kind is int:
        return Annotated[
            int, Field(ge=int(field.low), le=int(field.high), description=field.description)
        ]
    return Annotated[float, Field(ge=field.low, le=field.high, description=field.description)]


UserId = Annotated[str, Field(min_length=1, max_length=MAX_USER_ID_CHARS, pattern=_USER_ID_PATTERN)]


def strict_typeddict(name: str, doc: str, example: Any, fields: dict[str, Any]) -> Any:
    """A strict pydantic TypedDict named ``name`` with ``fields`` (name: type)."""
    typed = TypedDict(name, fields)  # type: ignore[misc]
    typed.__doc__ = doc
    config = ConfigDict(**STRICT, json_schema_extra={"examples": [example]})
    return with_config(config)(typed)


PostIn: Final = strict_typeddict(
    "PostIn",
    "One candidate post: the training schema minus the ``engaged`` label.",
    EXAMPLE_POSTS[0],
    {f.name: model_type(f) for f in POST_SCHEMA},
)
PostList = Annotated[
    list[Annotated[PostIn, BeforeValidator(_bounded_keys)]],  # type: ignore[valid-type]
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
    user_id: NotRequired[Annotated[UserId | None, Field(description=USER_ID_DESCRIPTION)]]


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
RANK_BODY: Final = TypeAdapter(RankBody)


RankIdsRequest: Final = strict_typeddict(
    "RankIdsRequest",
    "Posts named by id; their fields are read from the online feature store.",
    {"post_ids": [101, 102]},
    {
        "post_ids": Annotated[
            list_of(model_type(POST_SCHEMA[0])),
            Field(
                min_length=1, max_length=MAX_POSTS, description=f"1 to {MAX_POSTS} distinct ids."
            ),
        ],
        "user_id": NotRequired[
            Annotated[UserId | None, Field(description="As in /rank: assigns the A/B arm.")]
        ],
    },
)


USER_ID: Final = TypeAdapter(UserId)


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
    post: PostIn  # type: ignore[valid-type]


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


class DuplicateKey(ValueError):
    """A key given twice in one JSON object."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def duplicate_key(body: bytes) -> str | None:
    """The first key ``body`` repeats within one object, found by the standard library's own
    hook for an object's key-value pairs; None when no object repeats a key."""

    def refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(body, object_pairs_hook=refuse_repeats)
    except DuplicateKey as repeated:
        return repeated.key
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
        return None
    return None


USER_ID_HEADER: Final = "X-User-Id"
USER_ID_PARAMETER: Final = {
    "name": USER_ID_HEADER,
    "in": "header",
    "required": False,
    "description": "Who the feed is for: assigns the A/B arm (wins over `user_id`).",
    "schema": USER_ID.json_schema(),
}
