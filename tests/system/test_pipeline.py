"""Data safety in the pipeline: a killed run never leaves a half-written artifact, a re-run ends
correct, the generated dataset is validated before training, and the batch CLI never touches
its input and writes its output atomically.

Kills are real ``SIGKILL``s (no clean-up handlers run): from outside, in the middle of a real
``training.train.run`` on 4,000 rows in its own process, or injected into a forked child at the
worst moment of each write (half-way through the bytes, after the temporary file is complete,
between the two renames of the model directory).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from bundle.store import ModelLoadError, load_model, save_model
from features.schema import SchemaError
from scripts.check_dataset import check
from tests.support import ROOT
from training import predict as batch_cli
from training.data import Dataset, Split
from training.results import TRAINING, TRAINING_METRICS, write_metrics
from training.train import PREDICTIONS, _write_predictions

pytestmark = pytest.mark.faults
SMALL_ROWS = 4_000
RUN_TIMEOUT_S = 300.0

# A small real training run (``canonical=False``: 4,000 rows instead of 50,000), logging its
# stages to stderr so the test can kill it at a known point.
TRAIN_SCRIPT = """
import logging, pathlib, sys
from training.train import run
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
data, models, metrics = map(pathlib.Path, sys.argv[1:])
run(data, models, metrics, draws=20, canonical=False)
"""


def run_training(data: Path, models: Path, metrics: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT, str(data), str(models), str(metrics)],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr


def write_small_predictions(path: Path) -> None:
    """``training.train._write_predictions`` on a 6-row dataset, as FAULT_SCRIPT writes it."""
    posts = {
        "post_id": np.arange(6),
        "subreddit": np.array(["aww"] * 6, dtype=object),
        "engaged": np.array([0, 1] * 3),
    }
    split = Split(np.array([0, 1]), np.array([2, 3]), np.array([4, 5]))
    probabilities = {"model": np.full(2, 0.5)}
    _write_predictions(Dataset(posts, split), probabilities, probabilities, path)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones included), by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def hidden_leftovers(*directories: Path) -> list[str]:
    return sorted(
        str(p) for d in directories if d.exists() for p in d.iterdir() if p.name.startswith(".")
    )


# --- a real training run, killed and re-run ---------------------------------------------------


@pytest.fixture
def previous_run(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path
) -> Iterator[dict[str, Path]]:
    """A workspace holding a complete earlier run (the fixture model, stand-in metrics)."""
    paths = {
        "data": tmp_path / "posts.csv",
        "models": tmp_path / "out" / "models",
        "metrics": tmp_path / "out" / "metrics",
    }
    with canonical_csv.open() as source:
        paths["data"].write_text(
            "".join(line for _, line in zip(range(SMALL_ROWS + 1), source, strict=False))
        )
    shutil.copytree(api_model_dir, paths["models"])
    paths["metrics"].mkdir()
    (paths["metrics"] / TRAINING_METRICS).write_text(json.dumps({"model_version": "api-test"}))
    (paths["metrics"] / PREDICTIONS).write_text("split,post_id\nold,1\n")
    yield paths


def test_training_killed_mid_run_then_rerun_ends_correct(previous_run: dict[str, Path]) -> None:
    models, metrics = previous_run["models"], previous_run["metrics"]
    before = snapshot(models.parent)

    # 1. killed from outside in the middle (feature selection), like an OOM kill or a ^C
    process = run_training(previous_run["data"], models, metrics)
    assert process.stderr is not None
    deadline = time.monotonic() + RUN_TIMEOUT_S
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "ablation + feature selection" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    status, rest = finish(process)
    assert status == -signal.SIGKILL, "".join(seen) + rest
    assert snapshot(models.parent) == before  # nothing was touched yet

    # 2. the re-run ends with one consistent, complete set of artifacts (the worst moments of
    #    each write are injected one by one below)
    status, stderr = finish(run_training(previous_run["data"], models, metrics))
    assert status == 0, stderr
    loaded = load_model(models)  # checksum and self-check pass
    summary = json.loads((metrics / TRAINING_METRICS).read_text())
    assert summary["model_version"] == loaded.version != "api-test"
    predictions = pd.read_csv(metrics / PREDICTIONS)
    assert len(predictions) == sum(summary["split"][part] for part in ("validation", "test"))
    assert hidden_leftovers(models.parent, metrics) == []


# --- each write, killed at its worst moment -------------------------------------------------

# name -> (what is written, where the writer is killed: the n-th Path.rename, the Path.replace
# of a finished temporary file, or half-way through writing the bytes)
INJECTED = {
    "model bundle half-dumped": ("save", "dump"),
    "model complete, before the swap": ("save", "rename-1"),
    # the old directory moved aside, the new one complete but not yet renamed into place
    "model mid-swap": ("save", "rename-2"),
    "training.json before its rename": ("metrics", "replace"),
    "predictions.csv before its rename": ("predictions", "replace"),
    "batch CLI output half-written": ("cli", "to_csv"),
}


def _write(what: str, work: Path, api_model_dir: Path) -> None:
    """One of the pipeline's writes, into the workspace ``work``."""
    if what == "save":
        loaded = load_model(api_model_dir)
        metadata = {**loaded.metadata, "model_version": "fresh"}
        save_model(loaded.model, metadata, work / "models" / "models")
    elif what == "metrics":
        write_metrics(work / "metrics", TRAINING, {"model_version": "fresh"})
    elif what == "predictions":
        write_small_predictions(work / "metrics" / PREDICTIONS)
    else:
        arguments = ["--input", work / "input.csv", "--output", work / "scored.csv"]
        status = batch_cli.main([*map(str, arguments), "--model-dir", str(api_model_dir)])
        assert status == 0


def _write_and_die(what: str, fault: str, work: Path, api_model_dir: Path) -> None:
    """Runs in a forked child: patches the fault in, writes, and SIGKILLs itself there (no
    ``finally`` or ``except`` clean-up runs, as with the OOM killer or a power cut)."""

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    rename, replace, renames = Path.rename, Path.replace, [0]

    def killing_rename(self: Path, target: Any) -> Path:
        renames[0] += 1
        if fault == f"rename-{renames[0]}":
            die()
        return rename(self, target)

    def killing_replace(self: Path, target: Any) -> Path:
        if fault == "replace":
            die()
        return replace(self, target)

    def half_dump(_: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"\x80\x04half a pickle")
        die()

    def half_csv(_: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        handle.write("post_id,title\n1,half")
        handle.flush()
        die()

    Path.rename, Path.replace = killing_rename, killing_replace  # type: ignore[method-assign]
    if fault == "dump":
        joblib.dump = half_dump
    if fault == "to_csv":
        pd.DataFrame.to_csv = half_csv  # type: ignore[method-assign]
    _write(what, work, api_model_dir)


@pytest.fixture(scope="module")
def injected(
    api_model_dir: Path, canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, bytes], int | None]]:
    """Runs each write in a forked child killed at its fault; returns (workspace, its files
    before, the child's exit code)."""
    fork = multiprocessing.get_context("fork")
    results = {}
    for name, (what, fault) in INJECTED.items():
        work = tmp_path_factory.mktemp("inject")
        (work / "models").mkdir()
        shutil.copytree(api_model_dir, work / "models" / "models")
        (work / "metrics").mkdir()
        (work / "metrics" / TRAINING_METRICS).write_text('{"model_version": "old"}')
        (work / "metrics" / PREDICTIONS).write_text("split,post_id\nold,1\n")
        pd.read_csv(canonical_csv, nrows=50).to_csv(work / "input.csv", index=False)
        (work / "scored.csv").write_text("old scores\n")
        before = snapshot(work)
        child = fork.Process(target=_write_and_die, args=(what, fault, work, api_model_dir))
        child.start()
        child.join(timeout=RUN_TIMEOUT_S)
        results[name] = (work, before, child.exitcode)
    return results


@pytest.mark.parametrize("case", list(INJECTED))
def test_a_write_killed_at_its_worst_moment_leaves_the_old_artifact_whole(
    injected: dict[str, tuple[Path, dict[str, bytes], int | None]], api_model_dir: Path, case: str
) -> None:
    work, before, exit_code = injected[case]
    what, fault = INJECTED[case]
    assert exit_code == -signal.SIGKILL  # killed at the fault, not finished or failed
    # every visible file is byte-for-byte what it was; only hidden temporaries are new ...
    visible = {
        key: value
        for key, value in snapshot(work).items()
        if not any(part.startswith(".") for part in Path(key).parts)
    }
    target = work / "models" / "models"
    if fault == "rename-2":
        # ... except mid-swap: then there is no model at all (the server refuses to start,
        # naming the path), never half of one
        before = {k: v for k, v in before.items() if not k.startswith("models/models/")}
        with pytest.raises(ModelLoadError, match="does not exist"):
            load_model(target)
    elif what == "save":
        assert load_model(target).version == "api-test"
    assert visible == before
    # the re-run ends complete and clears what the killed run left behind
    _write(what, work, api_model_dir)
    if what == "save":
        assert load_model(target).version == "fresh"
    elif what == "metrics":
        metrics = json.loads((work / "metrics" / TRAINING_METRICS).read_text())
        assert metrics["model_version"] == "fresh"
    elif what == "predictions":
        assert len(pd.read_csv(work / "metrics" / PREDICTIONS)) == 4
    else:
        assert len(pd.read_csv(work / "scored.csv")) == 50
    assert hidden_leftovers(work, work / "models", work / "metrics") == []


# --- the batch CLI and its input -----------------------------------------------------------------


def _cli(input_path: Path, output: Path, model_dir: Path) -> int:
    return batch_cli.main(
        ["--input", str(input_path), "--output", str(output), "--model-dir", str(model_dir)]
    )


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


# --- the dataset is validated before training ----------------------------------------------------


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
