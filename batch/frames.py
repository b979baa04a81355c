"""What both engines do to a piece of input, and the file conventions they share.

Input columns are echoed as they were read: CSV fields as strings (``0.785`` stays ``0.785``),
Parquet columns with their own types. Two columns are appended: ``engagement_score`` (the
calibrated P(engaged); the input's ``score`` is the post's vote score) and
``unknown_subreddit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from bundle.scoring import RankingModel
from features.io import Faults, find_faults
from features.schema import CATEGORY_COLUMN, SchemaError

SCORE_COLUMN: Final = "engagement_score"
UNKNOWN_COLUMN: Final = "unknown_subreddit"
PARQUET_SUFFIX: Final = ".parquet"


class EngineUnavailable(RuntimeError):
    """The chosen engine cannot run on this machine (Spark without a Java runtime)."""


def score_piece(
    frame: pd.DataFrame, model: RankingModel, first_row: int
) -> tuple[pd.DataFrame | None, Faults]:
    """Scores a piece of input whose first row is data row ``first_row``.

    Returns the piece with the two score columns appended, or ``None`` and the piece's faults
    when any of its rows breaks the schema (the caller merges faults across pieces).
    """
    posts, faults = find_faults(frame, first_row)
    if faults:
        return None, faults
    scored = frame.copy()
    scored[SCORE_COLUMN] = model.predict_proba(posts)
    scored[UNKNOWN_COLUMN] = model.features.unknown_subreddits(posts[CATEGORY_COLUMN])
    return scored, faults


def is_parquet(location: str | Path) -> bool:
    """Parquet when the path ends in ``.parquet`` (a file or a directory of parts), else CSV."""
    return str(location).rstrip("/").endswith(PARQUET_SUFFIX)


def check_distinct(source: str, target: str) -> None:
    """Refuses an output that names the input, however spelled (links, ``..``)."""
    if Path(source).resolve() == Path(target).resolve():
        raise SchemaError("--output must differ from --input (the input is never overwritten)")


def staging_name(target: str) -> str:
    """The hidden sibling an engine writes before renaming: the next run overwrites it."""
    head, slash, name = str(target).rstrip("/").rpartition("/")
    return f"{head}{slash}.{name}.tmp"  # string surgery keeps URIs such as hdfs://host/x intact
