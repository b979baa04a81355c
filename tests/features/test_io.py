"""Reading posts (``features.io``): validation names the first problem of the whole input, the
same line whether the input is checked at once or in pieces whose faults are merged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.io import NO_ROWS, Faults, find_faults, posts_from_frame
from features.schema import INPUT_COLUMNS, SchemaError

ROWS = 10


def _frame() -> pd.DataFrame:
    """Valid posts as text, as a CSV reader gives them."""
    row = {"title": "new thread", "subreddit": "aww", "score": "10", "num_comments": "2",
           "upvote_ratio": "0.9", "post_age_hours": "3.5", "author_karma": "100"}  # fmt: skip
    return pd.DataFrame([{"post_id": str(i), **row} for i in range(ROWS)])[list(INPUT_COLUMNS)]


def _damaged() -> pd.DataFrame:
    frame = _frame()
    frame.loc[2, "upvote_ratio"] = "1.5"  # out of range, in the first piece
    frame.loc[5, "score"] = "lots"  # non-numeric, in the second piece
    frame.loc[9, "score"] = "many"  # and again, in the last
    return frame


def test_valid_posts_become_typed_columns() -> None:
    posts = posts_from_frame(_frame())
    assert posts["post_id"].dtype == np.int64
    assert posts["upvote_ratio"].dtype == np.float64
    assert posts["title"].dtype == object and posts["title"][0] == "new thread"


@pytest.mark.parametrize("piece", [1, 3, 4, ROWS])
def test_faults_of_pieces_merge_to_the_faults_of_the_whole(piece: int) -> None:
    frame = _damaged()
    _, whole = find_faults(frame)
    merged = Faults()
    for start in range(0, ROWS, piece):
        _, found = find_faults(frame.iloc[start : start + piece], first_row=1 + start)
        merged = merged.then(found)
    assert merged == whole
    assert str(merged.error()) == str(whole.error())


def test_shifting_a_pieces_faults_is_numbering_it_from_there() -> None:
    piece = _damaged().iloc[4:]
    assert find_faults(piece)[1].shifted(4) == find_faults(piece, first_row=5)[1]


def test_the_error_names_the_first_column_the_schema_checks_with_its_count() -> None:
    # score is checked before upvote_ratio, whichever row comes first
    with pytest.raises(SchemaError) as raised:
        posts_from_frame(_damaged())
    assert str(raised.value) == (
        "column 'score' has 2 missing or non-numeric value(s); first at data row 6: 'lots'"
    )


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_frame().iloc[:0], NO_ROWS),
        (
            _frame().drop(columns=["subreddit", "score"]),
            "missing required column(s): subreddit, score",
        ),
        (_frame().assign(engaged="2"), "column 'engaged' must hold only 0 and 1"),
    ],
    ids=["no-rows", "missing-columns", "bad-label"],
)
def test_shape_problems_are_one_line(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        posts_from_frame(frame)
    assert str(raised.value) == message
