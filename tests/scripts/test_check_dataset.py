"""The dataset check (``scripts.check_dataset``) that the pipeline runs between the generator
and training: the generated file passes, each kind of damage is refused with one line, and
the command stops the pipeline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.schema import SchemaError
from scripts.check_dataset import check
from tests.support import ROOT

pytestmark = pytest.mark.faults


def _damaged(canonical_csv: Path, tmp_path: Path, damage: str) -> Path:
    text = canonical_csv.read_text()
    header, _, body = text.partition("\n")
    lines = body.splitlines(keepends=True)
    path = tmp_path / "posts.csv"
    if damage == "truncated mid-row":
        path.write_text(text[: len(text) // 2])
    elif damage == "truncated at a row":
        path.write_text(header + "\n" + "".join(lines[:30_000]))
    elif damage == "extra column":
        path.write_text(header + ",extra\n" + "".join(line.rstrip("\n") + ",1\n" for line in lines))
    elif damage == "columns reordered":
        pd.read_csv(canonical_csv).iloc[:, ::-1].to_csv(path, index=False)
    elif damage == "label missing":
        pd.read_csv(canonical_csv).drop(columns="engaged").to_csv(path, index=False)
    elif damage == "value out of range":
        frame = pd.read_csv(canonical_csv)
        frame.loc[123, "upvote_ratio"] = 1.5
        frame.to_csv(path, index=False)
    elif damage == "duplicate ids":
        frame = pd.read_csv(canonical_csv)
        frame.loc[1, "post_id"] = frame.loc[0, "post_id"]
        frame.to_csv(path, index=False)
    elif damage == "not UTF-8":
        path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    elif damage == "empty":
        path.write_text("")
    return path


DAMAGE = {
    "truncated mid-row": "does not end with a newline",
    "truncated at a row": "expected 50,000 rows",
    "extra column": "header is",
    "columns reordered": "header is",
    "label missing": "header is",
    "value out of range": "column 'upvote_ratio' has value(s) outside [0, 1]",
    "duplicate ids": "post_id values are not unique",
    "not UTF-8": "unreadable header",
    "empty": "missing or empty",
}


def test_generated_dataset_passes_the_check(canonical_csv: Path) -> None:
    assert check(canonical_csv).startswith(f"{canonical_csv}: 50,000 rows, schema ok")


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_dataset_is_refused_before_training(
    canonical_csv: Path, tmp_path: Path, damage: str
) -> None:
    with pytest.raises(SchemaError, match=re.escape(DAMAGE[damage])):
        check(_damaged(canonical_csv, tmp_path, damage))


def test_pipeline_runs_the_check_between_generator_and_training(
    canonical_csv: Path, tmp_path: Path
) -> None:
    script = (ROOT / "run_pipeline.sh").read_text()
    generate = script.index('"$PY" generate_dataset.py')
    checked = script.index('"$PY" -m scripts.check_dataset data/posts.csv')
    train = script.index('"$PY" -m training.train')
    assert generate < checked < train
    # the command itself stops the pipeline (set -e) with one line on a bad file
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.check_dataset",
            str(_damaged(canonical_csv, tmp_path, "truncated mid-row")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("dataset check failed:") and result.stderr.count("\n") == 1
