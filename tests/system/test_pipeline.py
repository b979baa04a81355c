"""Data safety in the pipeline: a killed run never leaves a half-written artifact, and a re-run
ends correct, the batch CLI's output included. (The dataset check the pipeline runs before
training is tests/scripts/test_check_dataset.py; the batch CLI's care for its input,
tests/batch/test_main.py.)

Kills are real ``SIGKILL``s (no clean-up handlers run): from outside, in the middle of a real
``training.train.run`` on 4,000 rows in its own process, or injected into a forked child at the
worst moment of each write (half-way through the bytes, after the temporary file is complete,
between the two renames of the model directory).
"""

from __future__ import annotations

import json
import multiprocessing
import os
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

import batch.__main__ as batch_cli
from bundle.store import ModelLoadError, load_model, save_model
from tests.support import ROOT
from tests.support.files import hidden_leftovers
from training.artifacts import PREDICTIONS, write_predictions
from training.data import Dataset, Split
from training.results import TRAINING, TRAINING_METRICS, write_metrics

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
    """``training.artifacts.write_predictions`` on a 6-row dataset, as FAULT_SCRIPT writes it."""
    posts = {
        "post_id": np.arange(6),
        "subreddit": np.array(["aww"] * 6, dtype=object),
        "engaged": np.array([0, 1] * 3),
    }
    split = Split(np.array([0, 1]), np.array([2, 3]), np.array([4, 5]))
    probabilities = {"model": np.full(2, 0.5)}
    write_predictions(Dataset(posts, split), probabilities, probabilities, path)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones included), by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


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
