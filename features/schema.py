"""The posts schema: one definition shared by training, batch scoring and serving.

A batch of posts travels as ``Posts``: a mapping from column name to a 1-D NumPy array. Columnar
arrays keep the serving path free of pandas (a DataFrame per 20-row request costs more than the
model) while letting training pass whole CSV columns through the very same feature code. This
module imports NumPy only, so the serving image needs no pandas; CSV reading is in ``features.io``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # annotations only: the benchmark client reads the schema without NumPy
    import numpy as np

Posts = Mapping[str, "np.ndarray"]

ID_COLUMN: Final = "post_id"
LABEL_COLUMN: Final = "engaged"
TEXT_COLUMN: Final = "title"
CATEGORY_COLUMN: Final = "subreddit"


@dataclass(frozen=True)
class PostField:
    """One field of a post: its JSON type, its bounds and what it means.

    ``low`` and ``high`` bound a number's value, or a text's length in characters. They are the
    physical ranges a post can take: the generator stays inside them, and the CSV reader, the
    API and the posts read from the feature store reject the rest.
    """

    name: str
    kind: type[int] | type[float] | type[str]
    low: float
    high: float
    description: str
    example: int | float | str


# Every field of a post, declared once: the request types, the OpenAPI description, the column
# dtypes, the Spark, Parquet and Feast schemas and the benchmark payloads derive from this.
# Reddit caps titles at 300 characters and subreddit names at 21; a little slack for both.
POST_SCHEMA: Final = (
    PostField(ID_COLUMN, int, 0, 2**63 - 1, "Unique within the request (int64).", 101),
    PostField(TEXT_COLUMN, str, 0, 300, "Post title.", "breaking update thread discussion"),
    PostField(
        CATEGORY_COLUMN,
        str,
        1,
        64,
        "Case-sensitive. A name not seen in training is scored with the fallback described "
        "in SERVING.md and flagged as `unknown_subreddit`.",
        "science",
    ),
    PostField("score", int, 0, 1e9, "Net votes (JSON integer).", 1450),
    PostField("num_comments", int, 0, 1e9, "Comment count (JSON integer).", 87),
    PostField("upvote_ratio", float, 0.0, 1.0, "Share of votes that are upvotes, in [0, 1].", 0.91),
    PostField(
        "post_age_hours", float, 0.0, 1e6, "Hours since posting (finite, non-negative).", 2.5
    ),
    PostField("author_karma", int, 0, 1e12, "Author's karma (JSON integer).", 15200),
)
SCHEMA_BY_NAME: Final = {field.name: field for field in POST_SCHEMA}


def example_post(**changes: Any) -> dict[str, Any]:
    """A valid post: each field's example value, with ``changes`` on top."""
    return {field.name: field.example for field in POST_SCHEMA} | changes


INPUT_COLUMNS: Final = tuple(field.name for field in POST_SCHEMA)
# what a post carries besides its id: the fields the feature store keeps per post
POST_FIELDS: Final = INPUT_COLUMNS[1:]
# the numeric fields the model reads as they are
RAW_COLUMNS: Final = tuple(field.name for field in POST_SCHEMA[1:] if field.kind is not str)
TRAINING_COLUMNS: Final = (*INPUT_COLUMNS, LABEL_COLUMN)
# The whole numbers among them: a typed output (Parquet) stores these as 64-bit integers, the
# other RAW_COLUMNS as doubles and the title and subreddit as text.
INTEGER_COLUMNS: Final = (
    *(field.name for field in POST_SCHEMA if field.kind is int),
    LABEL_COLUMN,
)
# The Feast feature view that holds POST_FIELDS per post_id (features/feature_store.py defines
# it), and its features as Feast names them: what training reads offline and /rank/ids asks
# Feast's feature server for.
FEATURE_VIEW: Final = "post_features"
FEATURE_REFS: Final = tuple(f"{FEATURE_VIEW}:{field}" for field in POST_FIELDS)

# The generator's subreddits; anything else is "unknown" at serving time.
KNOWN_SUBREDDITS: Final = (
    "AskReddit",
    "worldnews",
    "gaming",
    "science",
    "todayilearned",
    "movies",
    "funny",
    "aww",
    "technology",
    "sports",
)

NUMERIC_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {
    name: (SCHEMA_BY_NAME[name].low, SCHEMA_BY_NAME[name].high) for name in RAW_COLUMNS
}


class SchemaError(ValueError):
    """Raised when input data does not follow the posts schema."""


def take(posts: Posts, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Selects rows from every column (indices or a boolean mask)."""
    return {column: values[rows] for column, values in posts.items()}


def n_rows(posts: Posts) -> int:
    """Number of posts in a columnar batch."""
    return len(next(iter(posts.values())))
