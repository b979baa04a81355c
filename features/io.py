"""Reading posts from CSV files and DataFrames into validated column arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import (
    CATEGORY_COLUMN,
    ID_COLUMN,
    INPUT_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_BOUNDS,
    NUMERIC_COLUMNS,
    TEXT_COLUMN,
    SchemaError,
)


def posts_from_frame(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validates a frame against the schema and converts it to typed column arrays.

    Args:
        frame: Posts with at least ``INPUT_COLUMNS`` (``engaged`` optional).

    Returns:
        Column arrays: float64 for numeric columns, object (str) for text and subreddit,
        int64 for ids and, when present, the label.

    Raises:
        SchemaError: With one line naming the first problem found.
    """
    if frame.empty:
        raise SchemaError("no rows: the input has a header at most")
    missing = [column for column in INPUT_COLUMNS if column not in frame.columns]
    if missing:
        raise SchemaError(f"missing required column(s): {', '.join(missing)}")
    posts: dict[str, np.ndarray] = {}
    for column in (ID_COLUMN, *NUMERIC_COLUMNS):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"column {column!r} has {int(bad.sum())} missing or non-numeric value(s); "
                f"first at data row {row + 1}: {frame[column].iloc[row]!r}"
            )
        low, high = NUMERIC_BOUNDS.get(column, (-np.inf, np.inf))
        out_of_range = (values < low) | (values > high)
        if out_of_range.any():
            row = int(np.flatnonzero(out_of_range)[0])
            raise SchemaError(
                f"column {column!r} has value(s) outside [{low:g}, {high:g}]; "
                f"first at data row {row + 1}: {values[row]!r}"
            )
        posts[column] = values
    posts[ID_COLUMN] = posts[ID_COLUMN].astype(np.int64)
    for column in (TEXT_COLUMN, CATEGORY_COLUMN):
        posts[column] = frame[column].fillna("").astype(str).to_numpy(dtype=object)
    if LABEL_COLUMN in frame.columns:
        label = pd.to_numeric(frame[LABEL_COLUMN], errors="coerce")
        if not label.isin([0, 1]).all():
            raise SchemaError(f"column {LABEL_COLUMN!r} must hold only 0 and 1")
        posts[LABEL_COLUMN] = label.to_numpy(dtype=np.int64)
    return posts


def read_posts_csv(path: Path) -> dict[str, np.ndarray]:
    """Reads and validates a posts CSV; see ``posts_from_frame``."""
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as error:
        raise SchemaError(f"{path} is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise SchemaError(f"{path} is not a readable CSV: {error}") from error
    return posts_from_frame(frame)
