"""The local engine streams in chunks without changing a score, an echoed field or an error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from batch.frames import PARQUET_TYPES, SCORE_COLUMN
from batch.local import score_file
from bundle.scoring import RankingModel
from bundle.store import load_model
from features.io import posts_from_frame
from features.schema import SchemaError

ROWS = 2_000
TOLERANCE = 1e-15  # row-wise arithmetic: chunk boundaries may only reorder BLAS sums


@pytest.fixture(scope="module")
def model(api_model_dir: Path) -> RankingModel:
    return load_model(api_model_dir).model


@pytest.fixture(scope="module")
def posts(canonical_csv: Path) -> pd.DataFrame:
    """Held-out rows as text, one with a value a float round trip would rewrite."""
    frame = pd.read_csv(canonical_csv, dtype=str, skiprows=range(1, 20_001), nrows=ROWS)
    frame.loc[7, "post_age_hours"] = "0.785"
    return frame


@pytest.mark.parametrize("output", ["scored.csv", "scored.parquet"])
def test_chunking_changes_nothing(
    model: RankingModel, posts: pd.DataFrame, tmp_path: Path, output: str
) -> None:
    source = tmp_path / "posts.csv"
    posts.to_csv(source, index=False)
    whole, chunked = tmp_path / f"whole-{output}", tmp_path / f"chunked-{output}"
    assert score_file(source, whole, model, chunk_rows=ROWS) == ROWS
    assert score_file(source, chunked, model, chunk_rows=333) == ROWS
    read = pd.read_parquet if output.endswith(".parquet") else pd.read_csv
    pd.testing.assert_frame_equal(read(chunked), read(whole))
    if output.endswith(".csv"):  # the text as written
        echoed = pd.read_csv(chunked, dtype=str)
        pd.testing.assert_frame_equal(
            echoed[posts.columns], posts, check_dtype=False, check_index_type=False
        )
        assert echoed.loc[7, "post_age_hours"] == "0.785"
    else:  # the schema's types, each decimal text its nearest double
        columns = pq.read_schema(chunked)
        assert {name: columns.field(name).type for name in PARQUET_TYPES} == PARQUET_TYPES
        expected_typed = pd.read_csv(source, engine="pyarrow")
        pd.testing.assert_frame_equal(read(chunked)[posts.columns], expected_typed)
        assert read(chunked).loc[7, "post_age_hours"] == 0.785
    expected = model.predict_proba(posts_from_frame(posts))
    np.testing.assert_allclose(read(chunked)[SCORE_COLUMN], expected, rtol=0, atol=TOLERANCE)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_error_names_the_whole_files_first_problem(
    model: RankingModel, posts: pd.DataFrame, tmp_path: Path
) -> None:
    """The bad score sits in a later chunk than the bad upvote ratio, and score is checked
    first; a second bad score in yet another chunk counts towards the total."""
    bad = posts.copy()
    bad.loc[100, "upvote_ratio"] = "2"
    bad.loc[1_500, "score"] = "lots"
    bad.loc[1_900, "score"] = ""
    source, output = tmp_path / "bad.csv", tmp_path / "scored.csv"
    bad.to_csv(source, index=False)
    output.write_text("yesterday's scores\n")
    with pytest.raises(SchemaError) as whole:
        posts_from_frame(pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""]))
    with pytest.raises(SchemaError) as chunked:
        score_file(source, output, model, chunk_rows=333)
    assert str(chunked.value) == str(whole.value)
    assert str(chunked.value) == (
        "column 'score' has 2 missing or non-numeric value(s); first at data row 1501: 'lots'"
    )
    assert output.read_text() == "yesterday's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "scored.csv"]


def test_a_count_that_is_no_whole_number_is_refused_for_parquet_only(
    model: RankingModel, posts: pd.DataFrame, tmp_path: Path
) -> None:
    """A valid number, but no integer: CSV echoes it, a Parquet integer column cannot hold it."""
    fractional = posts.copy()
    fractional.loc[1_200, "num_comments"] = "2.5"
    source, output = tmp_path / "fractional.csv", tmp_path / "scored.parquet"
    fractional.to_csv(source, index=False)
    with pytest.raises(SchemaError, match=re.escape("holds '2.5' in one of post_id, score")):
        score_file(source, output, model, chunk_rows=333)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fractional.csv"]
    assert score_file(source, tmp_path / "scored.csv", model, chunk_rows=333) == ROWS
