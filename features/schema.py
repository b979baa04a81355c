"""The posts schema: one definition shared by training, batch scoring and serving.

A batch of posts travels as ``Posts``: a mapping from column name to a 1-D NumPy array. Columnar
arrays keep the serving path free of pandas (a DataFrame per 20-row request costs more than the
model) while letting training pass whole CSV columns through the very same feature code. This
module imports NumPy only, so the serving image needs no pandas; CSV reading is in ``features.io``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

Posts = Mapping[str, np.ndarray]

ID_COLUMN: Final = "post_id"
LABEL_COLUMN: Final = "engaged"
TEXT_COLUMN: Final = "title"
CATEGORY_COLUMN: Final = "subreddit"
RAW_COLUMNS: Final = (
    "score",
    "num_comments",
    "upvote_ratio",
    "post_age_hours",
    "author_karma",
)
# what a post carries besides its id: the fields the feature store keeps per post
POST_FIELDS: Final = (TEXT_COLUMN, CATEGORY_COLUMN, *RAW_COLUMNS)
INPUT_COLUMNS: Final = (ID_COLUMN, *POST_FIELDS)
TRAINING_COLUMNS: Final = (*INPUT_COLUMNS, LABEL_COLUMN)
# The whole numbers among them: a typed output (Parquet) stores these as 64-bit integers, the
# other RAW_COLUMNS as doubles and the title and subreddit as text.
INTEGER_COLUMNS: Final = (ID_COLUMN, "score", "num_comments", "author_karma", LABEL_COLUMN)
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

# Physical ranges a post can take; the generator stays inside them and serving rejects the rest.
NUMERIC_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {
    "score": (0.0, 1e9),
    "num_comments": (0.0, 1e9),
    "upvote_ratio": (0.0, 1.0),
    "post_age_hours": (0.0, 1e6),
    "author_karma": (0.0, 1e12),
}


class SchemaError(ValueError):
    """Raised when input data does not follow the posts schema."""


def take(posts: Posts, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Selects rows from every column (indices or a boolean mask)."""
    return {column: values[rows] for column, values in posts.items()}


def n_rows(posts: Posts) -> int:
    """Number of posts in a columnar batch."""
    return len(next(iter(posts.values())))
