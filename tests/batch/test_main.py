"""The batch scoring CLI, ``python -m batch``: same scores as the model, clear one-line errors,
atomic output, and an input it never writes into, however the output names it.

The command runs as a process for a good file and a bad one (its exit status and stderr); the
other cases call its ``main`` in process, which checks the same status and stderr without paying
~2 s of imports per case.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.__main__ import main
from bundle.store import load_model
from features.io import read_posts_csv
from tests.support import ROOT
from tests.support.bundles import TrainedBundle
from tests.support.files import hidden_leftovers


def run_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The documented command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "batch", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """The command's ``main`` in this process: its exit status and what it wrote to stderr."""

    def run(*args: str | Path) -> Outcome:
        capsys.readouterr()
        status = main([str(arg) for arg in args])
        return Outcome(status, capsys.readouterr().err)

    return run


@pytest.fixture(scope="module")
def sample_csv(deployed_bundle: TrainedBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "sample.csv"
    pd.read_csv(deployed_bundle.data_path).sample(500, random_state=0).to_csv(path, index=False)
    return path


@pytest.mark.e2e  # the command as a process
def test_scores_match_the_model(
    deployed_bundle: TrainedBundle, sample_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    result = run_process(
        "--input", sample_csv, "--output", out, "--model-dir", deployed_bundle.model_dir
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out)
    original = pd.read_csv(sample_csv)
    pd.testing.assert_frame_equal(scored[original.columns], original)
    expected = load_model(deployed_bundle.model_dir).model.predict_proba(read_posts_csv(sample_csv))
    np.testing.assert_allclose(scored["engagement_score"], expected, rtol=0, atol=1e-15)
    assert not scored["unknown_subreddit"].any()


def test_label_column_is_optional(
    run_cli: Callable[..., Outcome],
    deployed_bundle: TrainedBundle,
    sample_csv: Path,
    tmp_path: Path,
) -> None:
    unlabeled = tmp_path / "unlabeled.csv"
    pd.read_csv(sample_csv).drop(columns="engaged").to_csv(unlabeled, index=False)
    out = tmp_path / "scored.csv"
    result = run_cli(
        "--input", unlabeled, "--output", out, "--model-dir", deployed_bundle.model_dir
    )
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(out)) == 500


def test_input_columns_are_echoed_exactly_as_written(
    run_cli: Callable[..., Outcome], deployed_bundle: TrainedBundle, tmp_path: Path
) -> None:
    """A float round trip would print 0.785 as 0.78500000000000003; the cells come back as
    written (a title that looks like a number included), and only the new score is computed."""
    header = "post_id,title,subreddit,score,num_comments,upvote_ratio,post_age_hours,author_karma"
    rows = [
        "7,why new thread,aww,120,40,0.785,2.50,5000",
        "8,0.10,science,3,0,0.1,1e1,90",
        '9,"best, worst",brand_new_sub,0,7,1,0.30000000000000004,12',
    ]
    source, out = tmp_path / "posts.csv", tmp_path / "scored.csv"
    source.write_text("\n".join([header, *rows]) + "\n")
    result = run_cli("--input", source, "--output", out, "--model-dir", deployed_bundle.model_dir)
    assert result.returncode == 0, result.stderr
    with source.open(newline="") as handle:
        written = list(csv.reader(handle))
    with out.open(newline="") as handle:
        echoed = list(csv.reader(handle))
    assert echoed[0] == [*written[0], "engagement_score", "unknown_subreddit"]
    assert [row[: len(written[0])] for row in echoed] == written
    expected = load_model(deployed_bundle.model_dir).model.predict_proba(read_posts_csv(source))
    scores = [float(row[len(written[0])]) for row in echoed[1:]]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-15)
    assert [row[-1] for row in echoed[1:]] == ["False", "False", "True"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("post_id,title\n1,hello\n", "missing required column(s): subreddit"),
        (
            "post_id,title,subreddit,score,num_comments,upvote_ratio,post_age_hours,author_karma\n"
            "1,hi,aww,12,3,high,1.5,10\n",
            "column 'upvote_ratio' has 1 missing or non-numeric value(s)",
        ),
        (
            "post_id,title,subreddit,score,num_comments,upvote_ratio,post_age_hours,author_karma\n"
            "1,hi,aww,12,3,1.7,1.5,10\n",
            "column 'upvote_ratio' has value(s) outside [0, 1]",
        ),
        (
            "post_id,title,subreddit,score,num_comments,upvote_ratio,post_age_hours,author_karma\n",
            "no rows",
        ),
    ],
)
def test_bad_input_is_one_line_and_no_output(
    run_cli: Callable[..., Outcome],
    deployed_bundle: TrainedBundle,
    tmp_path: Path,
    content: str,
    message: str,
) -> None:
    bad, out = tmp_path / "bad.csv", tmp_path / "out.csv"
    bad.write_text(content)
    result = run_cli("--input", bad, "--output", out, "--model-dir", deployed_bundle.model_dir)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def test_input_is_never_overwritten(
    run_cli: Callable[..., Outcome], deployed_bundle: TrainedBundle, sample_csv: Path
) -> None:
    before = sample_csv.read_bytes()
    result = run_cli(
        "--input", sample_csv, "--output", sample_csv, "--model-dir", deployed_bundle.model_dir
    )
    assert result.returncode == 2 and "never overwritten" in result.stderr
    assert sample_csv.read_bytes() == before


@pytest.mark.e2e  # the command as a process
def test_missing_model_dir_is_one_line_from_the_process(sample_csv: Path, tmp_path: Path) -> None:
    result = run_process(
        "--input", sample_csv, "--output", tmp_path / "o.csv", "--model-dir", tmp_path / "none"
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def _cli(input_path: Path, output: Path, model_dir: Path) -> int:
    return main(
        ["--input", str(input_path), "--output", str(output), "--model-dir", str(model_dir)]
    )


@pytest.mark.faults
def test_batch_cli_refuses_an_output_that_is_its_input_by_another_name(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    pd.read_csv(canonical_csv, nrows=20).to_csv(source, index=False)
    original = source.read_bytes()
    (tmp_path / "link.csv").symlink_to(source)
    for alias in (tmp_path / "link.csv", tmp_path / "." / "sub" / ".." / "in.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert _cli(source, alias, api_model_dir) == 2
        assert "never overwritten" in capsys.readouterr().err
    assert source.read_bytes() == original


@pytest.mark.faults
def test_batch_cli_replaces_a_hard_link_without_touching_the_input(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path
) -> None:
    """Even an output hard-linked to the input is safe: the CLI never writes in place."""
    source = tmp_path / "in.csv"
    pd.read_csv(canonical_csv, nrows=20).to_csv(source, index=False)
    original = source.read_bytes()
    os.link(source, tmp_path / "hard.csv")
    assert _cli(source, tmp_path / "hard.csv", api_model_dir) == 0
    assert source.read_bytes() == original
    assert "engagement_score" in (tmp_path / "hard.csv").read_text()


@pytest.mark.faults
def test_failed_batch_run_leaves_a_previous_output_untouched(
    api_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("post_id,title\n1,hello\n")
    output = tmp_path / "scored.csv"
    output.write_text("yesterday's scores\n")
    assert _cli(bad, output, api_model_dir) == 2
    assert output.read_text() == "yesterday's scores\n"
    assert hidden_leftovers(tmp_path) == []
    capsys.readouterr()
