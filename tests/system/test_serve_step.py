"""The last step of ``run_pipeline.sh``: ``serve_one_slate`` starts ``python -m serving`` on a
bundle, ranks one slate with ``scripts.rank_slate`` and stops the server with SIGTERM.

The function is taken from the script itself and run by bash with the script's own options, in
a session of its own: once it ends, nothing of that session may still run, whether the ranking
succeeded, failed half-way or was interrupted (the EXIT trap's job).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.e2e
FUNCTION = re.compile(r"^serve_one_slate\(\) \{\n.*?^\}\n", re.M | re.S)


def start_step(model_dir: Path, csv: Path, out: Path) -> subprocess.Popen[str]:
    """``serve_one_slate MODEL_DIR CSV`` under ``set -Eeuo pipefail``, as the pipeline runs it,
    in a session of its own; output goes to files, so a process left behind cannot hold the
    test's pipes open."""
    function = FUNCTION.search((ROOT / "run_pipeline.sh").read_text())
    assert function, "run_pipeline.sh defines no serve_one_slate function"
    script = f"set -Eeuo pipefail\nPY={sys.executable}\n{function.group(0)}"
    script += 'serve_one_slate "$1" "$2"\n'
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        return subprocess.Popen(
            ["bash", "-c", script, "serve-step", str(model_dir), str(csv)],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def finish(process: subprocess.Popen[str], out: Path) -> subprocess.CompletedProcess[str]:
    """The step's result, once it has ended; fails if anything of its session still runs."""
    try:
        process.wait(timeout=180)
    finally:
        leftover = _session_alive(process.pid)
        if leftover:
            os.killpg(process.pid, signal.SIGKILL)
    stdout, stderr = (out / "stdout").read_text(), (out / "stderr").read_text()
    assert not leftover, f"the serve step left a process behind: {stderr}"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _session_alive(session: int) -> bool:
    try:
        os.killpg(session, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_serve_step_prints_a_ranking_and_stops_the_server(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path
) -> None:
    result = finish(start_step(api_model_dir, canonical_csv, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("POST /rank, 5 posts from"), result.stdout
    scores = [float(line.rsplit("score ", 1)[1]) for line in lines[1:]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_a_failed_ranking_still_stops_the_server(api_model_dir: Path, tmp_path: Path) -> None:
    """The CSV is missing: the step fails after the server started, and the trap stops it."""
    result = finish(start_step(api_model_dir, tmp_path / "missing.csv", tmp_path), tmp_path)
    assert result.returncode == 1
    assert "rank_slate: cannot read 5 posts from" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_step_stops_the_server_and_the_client(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    """Signalled once the server process is up (the trap is set by then) while the client waits
    for it: the shell exits at once and its EXIT trap stops both."""
    process = start_step(api_model_dir, canonical_csv, tmp_path)
    deadline = time.monotonic() + 60
    while "Started server process" not in (tmp_path / "stderr").read_text():
        assert process.poll() is None and time.monotonic() < deadline, "the server never started"
        time.sleep(0.05)
    process.send_signal(signum)
    assert finish(process, tmp_path).returncode != 0
