"""Reading posts from CSV files and DataFrames into validated column arrays.

Validation reports the first problem of the whole input, the same line whether the input is
checked at once or in pieces: ``find_faults`` summarises one piece (a chunk, a Spark partition)
as ``Faults``, pieces merge in input order, and the merged summary raises the error that
checking the whole frame would have raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from features.schema import (
    CATEGORY_COLUMN,
    ID_COLUMN,
    INPUT_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_BOUNDS,
    RAW_COLUMNS,
    TEXT_COLUMN,
    SchemaError,
)

NO_ROWS: Final = "no rows: the input has a header at most"
CHECKED_COLUMNS: Final = (ID_COLUMN, *RAW_COLUMNS)


@dataclass(frozen=True)
class BadValues:
    """How many values of a column fail one check, and the first of them (1-based data row)."""

    count: int
    row: int
    shown: str


@dataclass(frozen=True)
class Faults:
    """Everything wrong with a piece of input, in a form that merges across pieces."""

    non_numeric: Mapping[str, BadValues] = field(default_factory=dict)
    out_of_range: Mapping[str, BadValues] = field(default_factory=dict)
    bad_label: bool = False

    def __bool__(self) -> bool:
        return bool(self.non_numeric or self.out_of_range or self.bad_label)

    def then(self, later: Faults) -> Faults:
        """These faults followed by those of the rows after them."""
        return Faults(
            _merge(self.non_numeric, later.non_numeric),
            _merge(self.out_of_range, later.out_of_range),
            self.bad_label or later.bad_label,
        )

    def shifted(self, rows: int) -> Faults:
        """The same faults with their row numbers moved ``rows`` further into the input."""

        def shift(found: Mapping[str, BadValues]) -> dict[str, BadValues]:
            return {c: BadValues(b.count, b.row + rows, b.shown) for c, b in found.items()}

        return Faults(shift(self.non_numeric), shift(self.out_of_range), self.bad_label)

    def error(self) -> SchemaError | None:
        """The one-line error for the first faulty column, in the order the schema checks them."""
        for column in CHECKED_COLUMNS:
            if column in self.non_numeric:
                bad = self.non_numeric[column]
                return SchemaError(
                    f"column {column!r} has {bad.count} missing or non-numeric value(s); "
                    f"first at data row {bad.row}: {bad.shown}"
                )
            if column in self.out_of_range:
                bad = self.out_of_range[column]
                low, high = NUMERIC_BOUNDS[column]
                return SchemaError(
                    f"column {column!r} has value(s) outside [{low:g}, {high:g}]; "
                    f"first at data row {bad.row}: {bad.shown}"
                )
        if self.bad_label:
            return SchemaError(f"column {LABEL_COLUMN!r} must hold only 0 and 1")
        return None


def _merge(first: Mapping[str, BadValues], later: Mapping[str, BadValues]) -> dict[str, BadValues]:
    merged = dict(later)
    for column, bad in first.items():
        after = later.get(column)
        merged[column] = (
            bad if after is None else BadValues(bad.count + after.count, bad.row, bad.shown)
        )
    return merged


def require_columns(columns: Iterable[str]) -> None:
    """Raises ``SchemaError`` naming the schema columns that ``columns`` lacks."""
    present = set(columns)
    missing = [column for column in INPUT_COLUMNS if column not in present]
    if missing:
        raise SchemaError(f"missing required column(s): {', '.join(missing)}")


def find_faults(frame: pd.DataFrame, first_row: int = 1) -> tuple[dict[str, np.ndarray], Faults]:
    """Converts a frame with the schema's columns to typed arrays and lists what is wrong.

    Args:
        frame: Rows with at least ``INPUT_COLUMNS`` (``engaged`` optional).
        first_row: The 1-based data row number of the frame's first row in the whole input.

    Returns:
        The column arrays (meaningful only when the faults are empty) and the faults.
    """
    posts: dict[str, np.ndarray] = {}
    non_numeric: dict[str, BadValues] = {}
    out_of_range: dict[str, BadValues] = {}
    for column in CHECKED_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raw = frame[column].iloc[row]
            # a missing value reads as NaN from pandas and None from Spark: show both as nan
            shown = repr(np.nan) if pd.isna(raw) else repr(raw)
            non_numeric[column] = BadValues(int(bad.sum()), first_row + row, shown)
        low, high = NUMERIC_BOUNDS.get(column, (-np.inf, np.inf))
        outside = (values < low) | (values > high)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            out_of_range[column] = BadValues(
                int(outside.sum()), first_row + row, repr(float(values[row]))
            )
        posts[column] = values
    faults = Faults(non_numeric, out_of_range)
    if not faults:
        posts[ID_COLUMN] = posts[ID_COLUMN].astype(np.int64)
    for column in (TEXT_COLUMN, CATEGORY_COLUMN):
        posts[column] = frame[column].fillna("").astype(str).to_numpy(dtype=object)
    if LABEL_COLUMN in frame.columns:
        label = pd.to_numeric(frame[LABEL_COLUMN], errors="coerce")
        if not label.isin([0, 1]).all():
            return posts, Faults(non_numeric, out_of_range, bad_label=True)
        posts[LABEL_COLUMN] = label.to_numpy(dtype=np.int64)
    return posts, faults


def posts_from_frame(frame: pd.DataFrame, first_row: int = 1) -> dict[str, np.ndarray]:
    """Validates a frame against the schema and converts it to typed column arrays.

    Args:
        frame: Posts with at least ``INPUT_COLUMNS`` (``engaged`` optional).
        first_row: The data row number reported for the frame's first row.

    Returns:
        Column arrays: float64 for numeric columns, object (str) for text and subreddit,
        int64 for ids and, when present, the label.

    Raises:
        SchemaError: With one line naming the first problem found.
    """
    if frame.empty:
        raise SchemaError(NO_ROWS)
    require_columns(frame.columns)
    posts, faults = find_faults(frame, first_row)
    error = faults.error()
    if error is not None:
        raise error
    return posts


def read_posts_csv(path: Path) -> dict[str, np.ndarray]:
    """Reads and validates a posts CSV; see ``posts_from_frame``."""
    try:
        # round_trip: each decimal becomes its nearest double, as JSON parsers give serving
        frame = pd.read_csv(
            path, keep_default_na=False, na_values=[""], float_precision="round_trip"
        )
    except pd.errors.EmptyDataError as error:
        raise SchemaError(f"{path} is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise SchemaError(f"{path} is not a readable CSV: {error}") from error
    return posts_from_frame(frame)
