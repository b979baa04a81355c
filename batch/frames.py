"""What both engines do to a piece of input, and the file conventions they share.

Input columns are echoed as they were read: CSV fields as strings (``0.785`` stays ``0.785``),
Parquet columns with their own types. Two columns are appended: ``engagement_score`` (the
calibrated P(engaged); the input's ``score`` is the post's vote score) and
``unknown_subreddit``. A Parquet output of a CSV input stores the schema's columns with the
types the schema declares (``PARQUET_TYPES``), whichever engine writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from bundle.scoring import RankingModel
from features.io import Faults, find_faults
from features.schema import (
    CATEGORY_COLUMN,
    INPUT_COLUMNS,
    INTEGER_COLUMNS,
    LABEL_COLUMN,
    RAW_COLUMNS,
    TEXT_COLUMN,
    SchemaError,
)

SCORE_COLUMN: Final = "engagement_score"
UNKNOWN_COLUMN: Final = "unknown_subreddit"
PARQUET_SUFFIX: Final = ".parquet"
# The schema's columns in a Parquet output of a CSV input: integers for the id, the counts and
# the label, doubles for the other numbers (the ratio and the age)
PARQUET_TYPES: Final[Mapping[str, pa.DataType]] = {
    TEXT_COLUMN: pa.string(),
    CATEGORY_COLUMN: pa.string(),
    **{column: pa.float64() for column in RAW_COLUMNS},
    **{column: pa.int64() for column in INTEGER_COLUMNS},
}


class EngineUnavailable(RuntimeError):
    """The chosen engine cannot run on this machine (Spark without a Java runtime)."""


def score_piece(
    frame: pd.DataFrame, model: RankingModel, first_row: int
) -> tuple[pd.DataFrame | None, Faults]:
    """Scores a piece of input whose first row is data row ``first_row``.

    Returns the piece with the two score columns appended, or ``None`` and the piece's faults
    when any of its rows breaks the schema (the caller merges faults across pieces).
    """
    scores, faults = _scores(frame, model, first_row)
    if scores is None:
        return None, faults
    scored = frame.copy()
    for name, values in scores.items():
        scored[name] = values
    return scored, faults


def score_batch(batch: pa.RecordBatch, model: RankingModel) -> pa.RecordBatch | None:
    """``score_piece`` on an Arrow batch (a Spark partition's): only the schema's columns are
    converted to check and score; every input column passes through as it arrived.

    Returns ``None`` when any row breaks the schema (the caller re-validates the whole input).
    """
    present = [column for column in (*INPUT_COLUMNS, LABEL_COLUMN) if column in batch.schema.names]
    scores, _ = _scores(batch.select(present).to_pandas(), model, first_row=1)
    if scores is None:
        return None
    for name, values in scores.items():
        batch = batch.append_column(name, pa.array(values))
    return batch


def _scores(
    frame: pd.DataFrame, model: RankingModel, first_row: int
) -> tuple[dict[str, np.ndarray] | None, Faults]:
    """The two appended columns of ``frame``, or ``None`` and its faults."""
    posts, faults = find_faults(frame, first_row)
    if faults:
        return None, faults
    return {
        SCORE_COLUMN: model.predict_proba(posts),
        UNKNOWN_COLUMN: model.features.unknown_subreddits(posts[CATEGORY_COLUMN]),
    }, faults


def typed(table: pa.Table, source: str) -> pa.Table:
    """``table`` (a CSV input's text, scored) with the schema's columns cast to
    ``PARQUET_TYPES``: each decimal text to its nearest double, each whole number exactly.

    Raises:
        SchemaError: A whole-number column holds a value that is no whole number.
    """
    for index, name in enumerate(table.column_names):
        if name not in PARQUET_TYPES:
            continue
        values, cast_to = table.column(index), PARQUET_TYPES[name]
        try:
            cast = values.cast(cast_to)
        except pa.ArrowInvalid as error:
            # validation passed every value as a finite number: only a whole-number column fails
            # (on a fraction), and a column's cast fails on one of its values cast alone
            bad = next(text for text in values.to_pylist() if not _casts(text, cast_to))
            raise not_an_integer(source, bad) from error
        table = table.set_column(index, name, cast)
    return table.replace_schema_metadata()  # pandas' metadata describes the text columns


def _casts(text: str | None, to: pa.DataType) -> bool:
    try:
        pa.scalar(text, pa.string()).cast(to)
    except pa.ArrowInvalid:
        return False
    return True


def not_an_integer(source: str, text: str) -> SchemaError:
    """The one-line error for a value no whole-number Parquet column can store."""
    return SchemaError(
        f"input file {source} holds {text!r} in one of {', '.join(INTEGER_COLUMNS)}: "
        "a Parquet output stores them as integers"
    )


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
