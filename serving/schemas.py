"""Request and response models: the API contract, enforced by pydantic and shown in OpenAPI.

Validation is strict on purpose. A ranking service that quietly coerces ``"12"`` to 12 or
``true`` to 1 hides client bugs that then surface as odd rankings, so wrong JSON types are
rejected, numbers must be finite and inside the physical ranges of ``features.schema``, and
unknown fields are refused (a misspelt ``num_coments`` would otherwise be dropped silently
and the post scored with a missing signal).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, with_config
from typing_extensions import TypedDict

from features.schema import NUMERIC_BOUNDS
from serving.config import MAX_POSTS

# Reddit caps titles at 300 characters and subreddit names at 21; a little slack for both.
MAX_TITLE_CHARS: Final = 300
MAX_SUBREDDIT_CHARS: Final = 64
MAX_POST_ID: Final = 2**63 - 1  # the id travels as int64 through the feature code

STRICT: Final = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


def _int_bounds(column: str) -> tuple[int, int]:
    low, high = NUMERIC_BOUNDS[column]
    return int(low), int(high)


def _within(bounds: tuple[float, float], description: str) -> Any:
    """A field inside ``features.schema.NUMERIC_BOUNDS``, the CSV reader's bounds too."""
    low, high = bounds
    return Field(ge=low, le=high, description=description)


def _example_post(post_id: int, subreddit: str, score: int, age: float) -> JsonValue:
    return {
        "post_id": post_id,
        "title": "breaking update thread discussion",
        "subreddit": subreddit,
        "score": score,
        "num_comments": 87,
        "upvote_ratio": 0.91,
        "post_age_hours": age,
        "author_karma": 15200,
    }


EXAMPLE_POSTS: Final[list[JsonValue]] = [
    _example_post(101, "science", 1450, 2.5),
    _example_post(102, "gaming", 35, 30.0),
    _example_post(103, "brand_new_subreddit", 640, 6.0),
]


# The post fields, shared by ``PostIn`` (the documented model) and ``PostFields`` (what /rank
# validates into: plain dicts, a third cheaper to build and already what the response echoes).
PostId = Annotated[
    int, Field(ge=0, le=MAX_POST_ID, description="Unique within the request (non-negative int64).")
]
Title = Annotated[str, Field(max_length=MAX_TITLE_CHARS, description="Post title.")]
Subreddit = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SUBREDDIT_CHARS,
        description="Case-sensitive. A name not seen in training is scored with the "
        "fallback described in SERVING.md and flagged as `unknown_subreddit`.",
    ),
]
Score = Annotated[int, _within(_int_bounds("score"), "Net votes (JSON integer).")]
NumComments = Annotated[int, _within(_int_bounds("num_comments"), "Comment count (JSON integer).")]
UpvoteRatio = Annotated[
    float, _within(NUMERIC_BOUNDS["upvote_ratio"], "Share of votes that are upvotes, in [0, 1].")
]
PostAgeHours = Annotated[
    float, _within(NUMERIC_BOUNDS["post_age_hours"], "Hours since posting (finite, non-negative).")
]
AuthorKarma = Annotated[int, _within(_int_bounds("author_karma"), "Author's karma (JSON integer).")]


class PostIn(BaseModel):
    """One candidate post: the training schema minus the ``engaged`` label."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [EXAMPLE_POSTS[0]]})

    post_id: PostId
    title: Title
    subreddit: Subreddit
    score: Score
    num_comments: NumComments
    upvote_ratio: UpvoteRatio
    post_age_hours: PostAgeHours
    author_karma: AuthorKarma


@with_config(STRICT)
class PostFields(TypedDict):
    """``PostIn`` as a validated dict (same fields, same constraints, fields in schema order)."""

    post_id: PostId
    title: Title
    subreddit: Subreddit
    score: Score
    num_comments: NumComments
    upvote_ratio: UpvoteRatio
    post_age_hours: PostAgeHours
    author_karma: AuthorKarma


Posts = Annotated[
    list[PostIn],
    Field(
        min_length=1,
        max_length=MAX_POSTS,
        description=f"1 to {MAX_POSTS} posts with distinct `post_id`s.",
    ),
]


class RankRequest(BaseModel):
    """The wrapped form of the request body; a bare JSON array of posts is accepted too."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"posts": EXAMPLE_POSTS}]})

    posts: Posts
    user_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=256,
            description="Optional: who the feed is for. Assigns the A/B arm when a challenger "
            "runs in ab mode (the `X-User-Id` header takes precedence); see SERVING.md.",
        ),
    ] = None


PostFieldsList = Annotated[list[PostFields], Field(min_length=1, max_length=MAX_POSTS)]


@with_config(STRICT)
class RankFields(TypedDict):
    """``RankRequest`` as a validated dict."""

    posts: PostFieldsList


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


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    model_version: str


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
