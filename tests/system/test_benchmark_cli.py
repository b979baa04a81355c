"""``benchmark.py``'s normal mode and its exit codes, run as users run it (a subprocess); the
arguments it refuses (exit 2) are tests/test_benchmark.py's.

- 0: every request answered 200 by a real server process (the deployed configuration, from
  ``deployed_bundle``); the ``--json`` report has count, errors, throughput and mean/p50/p95/p99
  for each phase and names where the slates came from (``--data`` present or generated).
- 1: requests failed (slates the server rejects with 422), counted per kind in the table.
- 1: the URL does not answer ``/ready``, or ``--wrk`` finds no wrk: one line, no traceback.

Latencies are only checked for order (p50 <= p95 <= p99): their size is a benchmark's figure.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from tests.support.bundles import TrainedBundle
from tests.support.server import STOPPED, Server, free_port, start_server

pytestmark = pytest.mark.e2e  # each test runs benchmark.py as a process, most against a server
REQUESTS = 200  # benchmark.py's minimum per phase
PHASES = ("health", "rank_mixed", "rank_20")
PHASE_KEYS = ("count", "errors", "throughput_rps", "mean_ms", "p50_ms", "p95_ms", "p99_ms")


def run_benchmark(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "benchmark.py", "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def error_lines(result: subprocess.CompletedProcess[str], code: int, message: str) -> list[str]:
    """stderr's lines, once the exit status is ``code``, there is no traceback and the last
    line carries ``message``."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and message in lines[-1], result.stderr
    return lines


@pytest.fixture(scope="module")
def deployed_server(
    deployed_bundle: TrainedBundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``python -m serving`` on the deployed configuration; it must stop cleanly afterwards."""
    log_dir = tmp_path_factory.mktemp("benchmark-server")
    server = start_server(deployed_bundle.model_dir, log_dir).started()
    yield server
    assert server.terminate() == STOPPED, server.log()


@pytest.mark.parametrize("source", ["posts.csv", "generated"])
def test_a_clean_run_exits_0_with_every_figure_in_its_report(
    deployed_server: Server, canonical_csv: Path, tmp_path: Path, source: str
) -> None:
    data = canonical_csv if source == "posts.csv" else tmp_path / "absent.csv"
    report_path = tmp_path / "report" / "benchmark.json"
    result = run_benchmark(
        "--url", deployed_server.url, "--requests", str(REQUESTS), "--concurrency", "4",
        "--warmup", "10", "--data", str(data), "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, Any] = json.loads(report_path.read_text())
    expected_source = (
        f"slates sampled from {data}"
        if source == "posts.csv"
        else f"slates generated ({data} is absent; shaped like generate_dataset.py)"
    )
    assert report["slates"] == expected_source
    assert expected_source in result.stdout.splitlines()[0]  # the table's header line
    assert (report["url"], report["requests_per_phase"]) == (deployed_server.url, REQUESTS)
    assert tuple(report["phases"]) == PHASES
    for name, phase in report["phases"].items():
        assert all(phase[key] is not None for key in PHASE_KEYS), (name, phase)
        assert (phase["count"], phase["errors"], phase["error_kinds"]) == (REQUESTS, 0, {}), name
        assert phase["throughput_rps"] > 0 and phase["mean_ms"] > 0, (name, phase)
        assert 0 < phase["p50_ms"] <= phase["p95_ms"] <= phase["p99_ms"], (name, phase)
        assert f"{name:<11}{REQUESTS:>7}{0:>7}" in result.stdout, name  # its row in the table
    for name in ("rank_mixed", "rank_20"):  # /rank answers carry Server-Timing
        phase = report["phases"][name]
        assert 0 < phase["server_p50_ms"] <= phase["server_p95_ms"] <= phase["server_p99_ms"]
    assert report["ratio_rank20_p50_over_health_p50"] > 0
    assert deployed_server.process.poll() is None


def write_invalid_posts(path: Path, rows: int = 40) -> Path:
    """Posts the contract rejects (upvote_ratio 1.5), in data/posts.csv's columns."""
    fields = ["post_id", "title", "subreddit", "score", "num_comments", "upvote_ratio",
              "post_age_hours", "author_karma", "engaged"]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for post_id in range(rows):
            writer.writerow([post_id, "new daily thread", "aww", 10, 2, 1.5, 3.0, 100, 1])
    return path


def test_failed_requests_exit_1_counted_by_kind(deployed_server: Server, tmp_path: Path) -> None:
    report_path = tmp_path / "benchmark.json"
    result = run_benchmark(
        "--url", deployed_server.url, "--requests", str(REQUESTS), "--concurrency", "4",
        "--warmup", "0", "--data", str(write_invalid_posts(tmp_path / "invalid.csv")),
        "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    phases = json.loads(report_path.read_text())["phases"]
    assert (phases["health"]["errors"], phases["health"]["error_kinds"]) == (0, {})
    for name in ("rank_mixed", "rank_20"):
        assert phases[name]["errors"] == REQUESTS, name
        assert phases[name]["error_kinds"] == {"HTTP 422": REQUESTS}, name
    assert result.stdout.count(f"errors: {{'HTTP 422': {REQUESTS}}}") == 2
    assert deployed_server.process.poll() is None


def test_an_unreachable_url_exits_1_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    report_path = tmp_path / "benchmark.json"
    result = run_benchmark("--url", url, "--json", str(report_path))
    lines = error_lines(result, 1, f"error: {url}/ready is not answering 200: ")
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not report_path.exists()


def test_wrk_mode_without_wrk_exits_1_with_the_install_hint(tmp_path: Path) -> None:
    no_wrk = {**os.environ, "PATH": str(tmp_path)}
    result = run_benchmark("--wrk", "--url", f"http://127.0.0.1:{free_port()}", env=no_wrk)
    lines = error_lines(result, 1, "error: wrk is not installed (Debian/Ubuntu: apt-get")
    assert len(lines) == 1, lines
