"""The HTTP edge against real server processes (127.0.0.1 only, bounded in count and time).

One test per way a connection can hurt the service: stalled sockets, idle connections beyond
the request cap, header bombs, an over-long request line, conflicting headers, aborted uploads,
error floods, SIGTERM with a trickling upload in every run mode, compressed bodies, and the
overload 503. ``make test`` runs them reduced (short timeouts, fewer sockets);
``FEEDRANK_EDGE_FULL=1`` runs them at full size with the default timeouts.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import edge
from serving.errors import ErrorBody
from serving.settings import Settings
from tests.support import ROOT
from tests.support.edge import timed, trickle
from tests.support.markdown import report_with
from tests.support.server import Server, make_serve, serving_command, start_server

pytestmark = pytest.mark.e2e
FULL = os.environ.get("FEEDRANK_EDGE_FULL") == "1"
DEFAULTS = Settings()
# reduced runs shorten the read timeouts; full runs keep the defaults `python -m serving` ships
READ_TIMEOUT_S = DEFAULTS.header_timeout if FULL else 2.0
TIMEOUT_ENV = {} if FULL else {"header_timeout": "2", "body_timeout": "2"}
# a loaded 2-core machine may be late by this much to close a socket or to answer
SLACK_S = 5.0
STALLED = 600 if FULL else 60  # full: more sockets than requests may be in flight
ABORTS = 1000 if FULL else 200
BOMBS, BOMB_BYTES = (8, 64 * 2**20) if FULL else (2, 4 * 2**20)
GRACEFUL_S = float(DEFAULTS.shutdown_timeout)


def say(text: str) -> None:
    sys.stdout.write(f"edge: {text}\n")


@pytest.fixture(scope="module")
def server(api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log_dir = tmp_path_factory.mktemp("edge-log")
    running = start_server(api_model_dir, log_dir, **TIMEOUT_ENV).started()
    yield running
    assert running.terminate() == 0, running.log()


@pytest.fixture(scope="module")
def tight_server(api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A limit small enough to reach: 4 requests in flight."""
    running = start_server(
        api_model_dir, tmp_path_factory.mktemp("edge-tight-log"), max_in_flight="4", **TIMEOUT_ENV
    ).started()
    yield running
    assert running.terminate() == 0, running.log()


def rank_body(api_posts: list[dict[str, Any]]) -> bytes:
    return json.dumps({"posts": api_posts[:20]}).encode()


def error_of(status: int, body: Any, code: str) -> ErrorBody:
    error = ErrorBody.model_validate(body)
    assert (error.status, error.error) == (status, code), body
    return error


# --- 1. stalled sockets -------------------------------------------------------------------------


def test_stalled_sockets_are_closed_in_time_and_traffic_is_served_meanwhile(
    server: Server, api_posts: list[dict[str, Any]]
) -> None:
    opened = time.monotonic()
    sockets = edge.stalled_clients(server.url, STALLED)
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        served = [client.get("/health").status_code for _ in range(10)]
        served += [
            client.post("/rank", content=rank_body(api_posts), headers=edge.JSON).status_code
            for _ in range(10)
        ]
    closed = [s for _, s in edge.until_closed(sockets, READ_TIMEOUT_S + 2 * SLACK_S, opened)]
    assert served == [200] * 20
    still_open = sum(seconds is None for seconds in closed)
    assert still_open == 0, f"{still_open} of {STALLED} stalled sockets still open"
    slowest = max(seconds for seconds in closed if seconds is not None)
    assert slowest <= READ_TIMEOUT_S + SLACK_S, slowest
    say(
        f"{STALLED} stalled sockets all closed, the last {slowest:.1f} s after opening "
        f"(timeout {READ_TIMEOUT_S:g} s); meanwhile 20/20 requests served 200"
    )


def test_connections_past_the_request_cap_do_not_block_requests(
    tight_server: Server, api_posts: list[dict[str, Any]]
) -> None:
    """Idle connections hold no request slot: 64 of them against a 4-request cap."""
    sockets = [edge.connect(tight_server.url) for _ in range(64)]
    try:
        with httpx.Client(base_url=tight_server.url, timeout=30.0) as client:
            statuses = [client.get("/health").status_code]
            statuses += [
                client.post("/rank", content=rank_body(api_posts), headers=edge.JSON).status_code
                for _ in range(8)
            ]
    finally:
        for sock in sockets:
            sock.close()
    assert statuses == [200] * 9


# --- 2. header size -----------------------------------------------------------------------------


def test_oversized_header_block_is_431_and_memory_stays_flat(server: Server) -> None:
    with edge.connect(server.url) as sock:
        sock.sendall(edge.request_head("GET", "/health", ["X-Pad: " + "a" * 8000]))
        assert edge.first_response(sock)[0] == 200  # 8 KB of headers is still fine
    with edge.connect(server.url) as sock:
        # the buffer is checked between reads, so how far past it a head gets depends on how
        # the bytes arrive: four buffers' worth is refused however they do
        pad = "X-Pad: " + "a" * (4 * DEFAULTS.max_header_bytes)
        sock.sendall(edge.request_head("GET", "/health", [pad]))
        status, headers, _ = edge.first_response(sock)
    assert (status, headers.get("connection")) == (431, "close")

    rss_before = edge.rss_mib(server.url)
    threads = [
        threading.Thread(target=edge.header_bomb, args=(server.url, BOMB_BYTES))
        for _ in range(BOMBS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120.0)
    rss_after = edge.rss_mib(server.url)
    assert rss_after - rss_before < 16.0, (rss_before, rss_after)
    assert httpx.get(f"{server.url}/health", timeout=30.0).status_code == 200
    say(
        f"{BOMBS} x {BOMB_BYTES / 2**20:.0f} MiB header blocks: RSS "
        f"{rss_before:.1f} -> {rss_after:.1f} MiB"
    )


def test_a_request_line_over_the_limit_is_414(server: Server) -> None:
    target = "/health?pad=" + "a" * 65_536  # past the server's 64 KiB request-target limit
    with edge.connect(server.url) as sock:
        sock.sendall(edge.request_head("GET", target))
        status, headers, _ = edge.first_response(sock)
    assert (status, headers["connection"]) == (414, "close")


def test_two_different_content_types_are_400(
    server: Server, api_posts: list[dict[str, Any]]
) -> None:
    body = rank_body(api_posts)
    head = edge.request_head(
        "POST",
        "/rank",
        [
            "Content-Type: application/json",
            "Content-Type: text/plain",
            f"Content-Length: {len(body)}",
        ],
    )
    with edge.connect(server.url, head + body) as sock:
        status, _, answer = edge.first_response(sock)
    assert status == 400
    error_of(400, answer, "conflicting_content_type")


# --- 3. aborted uploads -------------------------------------------------------------------------


def test_aborted_uploads_are_499_never_5xx_with_one_log_line_each(server: Server) -> None:
    before, log_before = edge.statuses(server.url), len(server.log())
    edge.aborted_uploads(server.url, ABORTS)
    deadline = time.monotonic() + 30.0
    while True:
        after = edge.statuses(server.url)
        aborted = after.get(("/rank", "POST", "499"), 0) - before.get(("/rank", "POST", "499"), 0)
        if aborted >= ABORTS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    server_errors = {key: n for key, n in after.items() if key[2].startswith("5")}
    log_growth = len(server.log()) - log_before
    assert server_errors == {}, server_errors
    assert aborted == ABORTS
    assert log_growth < ABORTS * 100, log_growth  # one short line per abort, no tracebacks
    assert "Traceback" not in server.log()
    say(f"{ABORTS} aborted uploads: {aborted} x 499, no 5xx, log +{log_growth / 1024:.0f} KiB")


# --- 4. error floods ----------------------------------------------------------------------------


def test_an_unknown_key_flood_costs_a_few_valid_requests(
    server: Server, api_posts: list[dict[str, Any]]
) -> None:
    flood = edge.flood_body(api_posts)
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        response = client.post("/rank", content=flood, headers=edge.JSON)
        error = error_of(422, response.json(), "validation_error")
        costs = edge.median_ms(
            client, {"valid": rank_body(api_posts), "flood": flood}, 40 if FULL else 15
        )
    assert len(error.details) == 20 and error.message.startswith("20 problems")
    assert (error.details[0].loc, error.details[0].type) == (
        ["body", "posts", 0],
        "too_many_fields",
    )
    say(
        f"{len(flood) / 1024:.0f} KiB flood: median {costs['flood']:.1f} ms, "
        f"valid: {costs['valid']:.1f} ms"
    )
    # relative, from one interleaved run: refusing the flood costs what a few requests cost
    assert costs["flood"] / costs["valid"] < 10.0, costs


# --- 5. SIGTERM with a trickling upload, in every run mode --------------------------------------


def image_cmd(port: int, *options: str) -> list[str]:
    """The Dockerfile's CMD, on 127.0.0.1 and ``port`` instead of 0.0.0.0:8000."""
    text = (ROOT / "Dockerfile").read_text()
    found = re.search(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", ""), re.M | re.S)
    assert found, "no exec-form CMD in the Dockerfile"
    args: list[str] = json.loads(found.group(1))
    assert args[:3] == ["python", "-m", "serving"], args
    swapped = " ".join(args[3:]).replace("0.0.0.0", "127.0.0.1").replace("8000", str(port))
    return [sys.executable, "-m", "serving", *shlex.split(swapped)]


COMMANDS: dict[str, Callable[..., list[str]]] = {
    "python -m serving": serving_command,
    "image CMD": image_cmd,
    "make serve": make_serve,
}


@pytest.mark.parametrize("mode", ["python -m serving", "make serve", "image CMD"])
def test_sigterm_with_a_trickling_upload_exits_within_the_bound(
    mode: str, api_model_dir: Path, tmp_path: Path
) -> None:
    launched = start_server(api_model_dir, tmp_path, command=COMMANDS[mode])
    process, url = launched.process, launched.url
    stop = threading.Event()
    try:
        launched.wait_ready()
        trickle(url, stop)
        time.sleep(1.5)  # the upload is in flight: headers in, body arriving a byte a second
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        target = int(children[0]) if mode == "make serve" else process.pid
        os.kill(target, signal.SIGTERM)
        status, seconds = timed(lambda: process.wait(timeout=GRACEFUL_S + 3 * SLACK_S))
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    log = launched.log()
    assert status == 0, log
    assert seconds <= GRACEFUL_S + SLACK_S, (seconds, log)
    say(f"{mode}: SIGTERM with a trickling upload, exit {status} after {seconds:.1f} s")


# --- 6. compressed bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", True), ("br", False), ("x-custom", False)]
)
def test_a_content_encoding_is_415_naming_it(
    server: Server, api_posts: list[dict[str, Any]], encoding: str, compress: bool
) -> None:
    body = rank_body(api_posts)
    response = httpx.post(
        f"{server.url}/rank",
        content=gzip.compress(body) if compress else body,
        headers={**edge.JSON, "content-encoding": encoding},
        timeout=30.0,
    )
    assert response.status_code == 415
    error = error_of(415, response.json(), "unsupported_content_encoding")
    assert repr(encoding) in error.message
    identity = httpx.post(
        f"{server.url}/rank",
        content=body,
        headers={**edge.JSON, "content-encoding": "identity"},
        timeout=30.0,
    )
    assert identity.status_code == 200


# --- 7. overload --------------------------------------------------------------------------------


def test_overload_is_a_counted_503_with_the_error_body_and_retry_after(
    tight_server: Server, api_posts: list[dict[str, Any]]
) -> None:
    head = edge.request_head(
        "POST", "/rank", ["Content-Type: application/json", "Content-Length: 4000"]
    )
    holders = [edge.connect(tight_server.url, head + b"[") for _ in range(4)]
    try:
        deadline = time.monotonic() + 20.0
        while True:  # until the four uploads are being handled
            response = httpx.post(
                f"{tight_server.url}/rank", content=rank_body(api_posts), headers=edge.JSON
            )
            if response.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        health = httpx.get(f"{tight_server.url}/health", timeout=30.0).status_code
    finally:
        for sock in holders:
            sock.close()
    assert response.status_code == 503, response.text
    error_of(503, response.json(), "overloaded")
    assert response.headers["retry-after"] == "1"
    assert health == 200  # liveness is never shed
    shed = {key: n for key, n in edge.statuses(tight_server.url).items() if key[2] == "503"}
    assert sum(shed.values()) >= 1, shed


# --- the probes as a command --------------------------------------------------------------------


def test_the_edge_command_records_every_probe_and_the_report_renders_it(
    server: Server, tmp_path: Path
) -> None:
    """``python -m benchmarks.edge`` (``make edge``) against a running server, reduced: each probe
    is recorded with the answer the tests above expect of it."""
    record_path = tmp_path / "edge.json"
    settings = {f"FEEDRANK_{name.upper()}": value for name, value in TIMEOUT_ENV.items()}
    result = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.edge", "--url", server.url, "--json",
            str(record_path), "--stalled", "2", "--repeats", "1", "--rounds", "3", "--bombs",
            "1", "--bomb-mib", "1", "--aborts", "20",
        ],
        cwd=ROOT,
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert record["settings"]["header_timeout"] == READ_TIMEOUT_S
    found = {(probe["name"], probe["sent"]): probe for probe in record["probes"]}
    answered = {name: probe["statuses"] for (name, _), probe in found.items()}
    assert answered["valid /rank"] == {"200": 1}
    assert answered["head over the buffer"] == {"431": 1}
    assert answered["request target over 64 KiB"] == {"414": 1}
    assert answered["two Content-Types"] == {"400": 1}
    assert answered["gzip body"] == {"415": 1}
    assert answered["declared body over the limit"] == answered["chunked body over the limit"]
    assert answered["chunked body over the limit"] == {"413": 1}
    assert answered["flood body, repeated"] == {"422": 3}
    assert answered["header bomb"] == {"431": 1}
    assert answered["aborted upload"] == {"499": 20}
    kept_alive = ["valid /rank", "8 KB of headers", "two Content-Types", "gzip body"]
    closing = ["head over the buffer", "request target over 64 KiB", "declared body over the limit"]
    closed = {name: probe["closed"] for (name, _), probe in found.items()}
    assert [closed[name] for name in kept_alive] == [0] * len(kept_alive), closed
    assert [closed[name] for name in closing] == [1] * len(closing), closed
    stalled = [probe for (name, _), probe in found.items() if name == "stalled socket"]
    assert [probe["sent"] for probe in stalled] == list(edge.STALLS)
    assert all(probe["closed"] == 2 for probe in stalled), stalled
    assert all(probe["slowest_s"] <= READ_TIMEOUT_S + SLACK_S for probe in stalled), stalled
    assert stalled[-1]["statuses"] == {"408": 2}  # the body timeout answers before closing
    report = report_with(tmp_path, "edge.json", record)
    assert "## The HTTP edge" in report and "| aborted upload |" in report
