"""A real server process under stress: SIGTERM during load, and a bounded soak.

- SIGTERM while requests are in flight: each of them completes with a full 200, no response is
  a 5xx, then the process exits as SIGTERM asks (``python -m serving``, the image's entry point).
- Soak: ``benchmark.py --duration`` against one process at concurrency 32, zero errors, RSS
  flat between warm-up and end (the default suite runs 15 s; ``make soak`` runs 60 s).

"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT
from tests.support.markdown import report_with
from tests.support.server import STOPPED, Server, start_server

pytestmark = pytest.mark.e2e
SOAK_SECONDS = float(os.environ.get("FEEDRANK_SOAK_SECONDS", "15"))
SOAK_CONCURRENCY = 32


# --- SIGTERM during load ------------------------------------------------------------------------

SLOW_UPLOADS = 8
SLOW_CHUNKS = 16
SLOW_CHUNK_DELAY_S = 0.4
LOAD_WORKERS = 16


def _slow_body(payload: bytes, started: threading.Event) -> Iterator[bytes]:
    """Yields the body in chunks with pauses: the request stays in flight for ~6.4 s, long
    enough to still be uploading when SIGTERM arrives on a loaded machine."""
    size = -(-len(payload) // SLOW_CHUNKS)
    for index in range(0, len(payload), size):
        yield payload[index : index + size]
        started.set()  # headers and the first chunk are on the wire
        time.sleep(SLOW_CHUNK_DELAY_S)


@pytest.mark.faults
def test_sigterm_lets_in_flight_requests_finish_then_exits(
    api_model_dir: Path, api_posts: list[dict[str, Any]], tmp_path: Path
) -> None:
    server = start_server(api_model_dir, tmp_path, "--access-log", shutdown_timeout="15").started()
    payload = json.dumps({"posts": api_posts[:20]}).encode()
    slow_results: list[httpx.Response | Exception] = []
    slow_finished_at: list[float] = []
    load_statuses: Counter[int] = Counter()
    load_errors: Counter[str] = Counter()
    stop_load = threading.Event()
    signalled_at: list[float] = []

    def slow_upload(started: threading.Event) -> None:
        try:
            response = httpx.post(
                f"{server.url}/rank",
                content=_slow_body(payload, started),
                headers={"content-type": "application/json"},
                timeout=30.0,
            )
            slow_results.append(response)
            slow_finished_at.append(time.monotonic())
        except Exception as error:  # recorded and asserted on below
            slow_results.append(error)

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            while not stop_load.is_set():
                try:
                    response = client.post(
                        "/rank", content=payload, headers={"content-type": "application/json"}
                    )
                except httpx.TransportError as error:
                    # only acceptable once shutdown has begun: the server closes idle
                    # keep-alive connections and refuses new ones
                    load_errors[
                        f"{type(error).__name__}{'' if signalled_at else ' BEFORE SIGTERM'}"
                    ] += 1
                    if signalled_at:
                        return
                    continue
                load_statuses[response.status_code] += 1

    started = [threading.Event() for _ in range(SLOW_UPLOADS)]
    threads = [threading.Thread(target=load) for _ in range(LOAD_WORKERS)]
    threads += [threading.Thread(target=slow_upload, args=(event,)) for event in started]
    try:
        for thread in threads[:LOAD_WORKERS]:
            thread.start()
        deadline = time.monotonic() + 30.0
        while load_statuses[200] < LOAD_WORKERS and time.monotonic() < deadline:
            time.sleep(0.05)  # the load is flowing before the uploads begin
        assert load_statuses[200] >= LOAD_WORKERS, (load_statuses, load_errors)
        for thread in threads[LOAD_WORKERS:]:
            thread.start()
        for event in started:
            assert event.wait(10.0), "slow upload did not start"
        # A request on a connection opened after the uploads' is answered only once the server
        # has accepted the earlier connections and read what was on them: the uploads are in
        # flight. (Without this barrier a saturated server may still have them in its accept
        # backlog, and closing the listening socket resets those: never-started requests.)
        assert httpx.get(f"{server.url}/health", timeout=30.0).status_code == 200
        time.sleep(0.1)
        signalled_at.append(time.monotonic())
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=30.0)
        stopped_after = time.monotonic() - signalled_at[0]
        for thread in threads[LOAD_WORKERS:]:
            thread.join(timeout=30.0)
    finally:
        stop_load.set()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(timeout=30.0)
        server.terminate()  # a no-op once it has exited

    log = server.log()
    # uvicorn, once drained, re-raises the signal it caught: the exit status a SIGTERM gives
    assert status == STOPPED, log
    assert len(slow_results) == SLOW_UPLOADS
    for result in slow_results:
        assert isinstance(result, httpx.Response), f"in-flight request failed: {result!r}"
        assert result.status_code == 200, result.text
        assert len(result.json()["ranked"]) == 20
    # ordering, not timing: uploads still running at the signal were drained, not cut, and
    # their answers closed the connection (the server was shutting down)
    drained = [
        result
        for result, finished in zip(slow_results, slow_finished_at, strict=True)
        if isinstance(result, httpx.Response) and finished > signalled_at[0]
    ]
    assert drained, "no upload was in flight at SIGTERM: the drain was not exercised"
    assert all(result.headers.get("connection") == "close" for result in drained)
    assert set(load_statuses) == {200}, load_statuses  # no 5xx, nothing half-answered
    assert not [kind for kind in load_errors if "BEFORE" in kind], load_errors
    assert "Finished server process" in log
    # every request the server answered reached its client: the transport errors above were
    # requests the server never started (sent on a connection it was closing), not lost answers
    answered = log.count('"POST /rank HTTP/1.1" 200')
    assert answered == load_statuses[200] + SLOW_UPLOADS, (answered, load_statuses)
    sys.stdout.write(
        f"SIGTERM under load: {SLOW_UPLOADS} in-flight uploads all 200, "
        f"{load_statuses[200]} load requests 200, refused after SIGTERM {dict(load_errors)}, "
        f"exit {status} {stopped_after:.1f} s after the signal\n"
    )


# --- soak ---------------------------------------------------------------------------------------


@pytest.mark.soak
def test_soak_has_no_errors_and_flat_memory(
    running_server: Server, canonical_csv: Path, tmp_path: Path
) -> None:
    """``benchmark.py --duration`` (what ``make soak`` runs) against one process: zero errors,
    RSS growth bounded, and its record renders into the performance report."""
    report_path = tmp_path / "soak.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmark.py",
            "--url",
            running_server.url,
            "--duration",
            f"{SOAK_SECONDS:g}",
            "--window",
            f"{max(SOAK_SECONDS / 6, 1):g}",
            "--concurrency",
            str(SOAK_CONCURRENCY),
            "--warmup",
            "200",
            "--max-rss-growth-mib",
            "16",
            "--data",
            str(canonical_csv),
            "--no-progress",
            "--json",
            str(report_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SOAK_SECONDS + 120,
    )
    sys.stdout.write(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0
    # it really ran under load: a few requests per second even on a machine whose other core
    # is busy (an idle one serves hundreds); the soak's figure is its report, not this bound
    assert report["requests"] > SOAK_SECONDS * 5
    assert report["rss_growth_mib"] is not None and report["rss_growth_mib"] <= 16
    assert report["open_fds_end"] <= report["open_fds_start"] + SOAK_CONCURRENCY
    assert running_server.process.poll() is None
    rendered = report_with(tmp_path, "soak.json", report)  # as make soak renders it
    assert f"| requests | {report['requests']:,}," in rendered
