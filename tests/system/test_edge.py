"""The HTTP edge at the front door: HAProxy (deploy/haproxy.cfg) in front of the replicas, in
the session's stack (``make stack``), 127.0.0.1 only, bounded in count and time.

One test per way a connection can hurt the service: stalled and idle sockets (520 of them),
header bombs, a 100 KB request target, Content-Length with Transfer-Encoding, malformed chunked
bodies, conflicting headers, aborted uploads, error floods and compressed bodies; and, on a
replica's own process, SIGTERM with a trickling upload in every run mode. The limits are read
from deploy/haproxy.cfg. ``make test`` runs the bombs reduced; ``FEEDRANK_EDGE_FULL=1`` runs
them at full size.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import raw_http
from benchmarks.edge import FrontDoor, flood_body, median_ms, statuses
from benchmarks.stack import limits
from serving.errors import ErrorBody
from serving.settings import Settings
from tests.support import ROOT
from tests.support.edge import timed, trickle
from tests.support.markdown import report_with
from tests.support.server import STOPPED, make_serve, serving_command, start_server
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e
FULL = os.environ.get("FEEDRANK_EDGE_FULL") == "1"
LIMITS = limits()
READ_TIMEOUT_S = LIMITS["request_timeout"]
# a loaded 2-core machine may be late by this much to close a socket or to answer
SLACK_S = 5.0
IDLE = 520  # more than the requests that may be in flight at once, many times over
ABORTS = 1000 if FULL else 200
BOMBS, BOMB_BYTES = (8, 64 * 2**20) if FULL else (2, 4 * 2**20)
GRACEFUL_S = float(Settings().shutdown_timeout)
JSON = {"content-type": "application/json"}


def say(text: str) -> None:
    sys.stdout.write(f"edge: {text}\n")


def rank_body(api_posts: list[dict[str, Any]]) -> bytes:
    return json.dumps({"posts": api_posts[:20]}).encode()


def error_of(status: int, body: Any, code: str) -> ErrorBody:
    error = ErrorBody.model_validate(body)
    assert (error.status, error.error) == (status, code), body
    return error


def answer_and_close(url: str, payload: bytes) -> tuple[int, bool]:
    """The status of the one answer to ``payload`` on a new connection, and whether the proxy
    then closed that connection."""
    with raw_http.connect(url, payload) as sock:
        status = raw_http.read_response(sock)[0]
        sock.settimeout(raw_http.CLOSE_WAIT_S)
        try:
            closed = sock.recv(65536) == b""
        except TimeoutError:
            closed = False
        except OSError:
            closed = True
    return status, closed


# --- 1. stalled and idle sockets ----------------------------------------------------------------


def test_stalled_and_idle_sockets_are_closed_in_time_and_traffic_is_served_meanwhile(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    opened = time.monotonic()
    sockets = raw_http.stalled_clients(stack.url, IDLE)
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        served = [client.get("/health").status_code for _ in range(10)]
        served += [
            client.post("/rank", content=rank_body(api_posts), headers=JSON).status_code
            for _ in range(10)
        ]
    closing = raw_http.until_closed(sockets, READ_TIMEOUT_S + 2 * SLACK_S, opened)
    assert served == [200] * 20
    still_open = sum(seconds is None for _, seconds in closing)
    assert still_open == 0, f"{still_open} of {IDLE} stalled sockets still open"
    slowest = max(seconds for _, seconds in closing if seconds is not None)
    assert slowest <= READ_TIMEOUT_S + SLACK_S, slowest
    assert {status for status, _ in closing} == {408}
    say(
        f"{IDLE} stalled sockets all closed with a 408, the last {slowest:.1f} s after opening "
        f"(timeout {READ_TIMEOUT_S:g} s); meanwhile 20/20 requests served 200"
    )


# --- 2. request heads ---------------------------------------------------------------------------


def test_an_oversized_head_is_400_and_memory_stays_flat(stack: RunningStack) -> None:
    eight_kb = raw_http.request_head("GET", "/health", ["X-Pad: " + "a" * 8000])
    assert answer_and_close(stack.url, eight_kb) == (200, False)
    # four buffers' worth, however the bytes arrive
    pad = "X-Pad: " + "a" * (4 * int(LIMITS["max_head_bytes"]))
    assert answer_and_close(stack.url, raw_http.request_head("GET", "/health", [pad])) == (
        400,
        True,
    )
    door = FrontDoor.of(stack.stack)
    before = door.memory()
    threads = [
        threading.Thread(target=raw_http.header_bomb, args=(stack.url, BOMB_BYTES))
        for _ in range(BOMBS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120.0)
    after = door.memory()
    assert after["proxy"] - before["proxy"] < 16.0, (before, after)
    assert httpx.get(f"{stack.url}/health", timeout=30.0).status_code == 200
    say(f"{BOMBS} x {BOMB_BYTES / 2**20:.0f} MiB header blocks: RSS (MiB) {before} -> {after}")


def test_a_100_kb_request_target_is_400(stack: RunningStack) -> None:
    target = "/health?pad=" + "a" * 100_000
    assert answer_and_close(stack.url, raw_http.request_head("GET", target)) == (400, True)


# --- 3. framing: smuggling and malformed chunks -------------------------------------------------


def test_content_length_with_transfer_encoding_is_read_as_chunked_then_closed(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    """The classic smuggling shape: a Content-Length that covers a second request hidden after
    the chunked body's end. HAProxy drops the Content-Length, reads the chunks, answers the one
    request and closes the connection, so the hidden one is never read."""
    body = rank_body(api_posts)
    hidden = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) + hidden
    head = raw_http.request_head(
        "POST",
        "/rank",
        [
            "Content-Type: application/json",
            f"Content-Length: {len(chunked)}",
            "Transfer-Encoding: chunked",
        ],
    )
    unmatched = sum(
        n
        for url in (stack.replica(1), stack.replica(2))
        for (route, _, _), n in statuses(url).items()
        if route == "unmatched"
    )
    with raw_http.connect(stack.url, head + chunked) as sock:
        status = raw_http.read_response(sock)[0]
        sock.settimeout(5.0)
        rest = sock.recv(65536)
    assert status == 200
    assert rest == b""  # closed, with no second answer
    after = sum(
        n
        for url in (stack.replica(1), stack.replica(2))
        for (route, _, _), n in statuses(url).items()
        if route == "unmatched"
    )
    assert after == unmatched  # /smuggled never reached a replica


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"-1\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"],
    ids=["not-hexadecimal", "negative-size", "no-line-end-after-the-data"],
)
def test_a_malformed_chunked_body_is_400_from_the_proxy(stack: RunningStack, chunks: bytes) -> None:
    head = raw_http.request_head(
        "POST", "/rank", ["Content-Type: application/json", "Transfer-Encoding: chunked"]
    )
    assert answer_and_close(stack.url, head + chunks) == (400, True)


def test_two_different_content_types_are_400(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    body = rank_body(api_posts)
    head = raw_http.request_head(
        "POST",
        "/rank",
        [
            "Content-Type: application/json",
            "Content-Type: text/plain",
            f"Content-Length: {len(body)}",
        ],
    )
    with raw_http.connect(stack.url, head + body) as sock:
        status, _, answer = raw_http.first_response(sock)
    assert status == 400
    error_of(400, answer, "conflicting_content_type")


# --- 4. aborted uploads -------------------------------------------------------------------------


def test_aborted_uploads_never_reach_a_replica_and_are_never_5xx(stack: RunningStack) -> None:
    """HAProxy holds a body up to its buffer before choosing a replica, so an upload abandoned
    part-way costs the replicas nothing."""
    door = FrontDoor.of(stack.stack)
    replicas_before, proxy_before = door.replica_requests(), door.proxy_responses()
    raw_http.aborted_uploads(stack.url, ABORTS)
    time.sleep(1.0)
    proxy_after = door.proxy_responses()
    assert door.replica_requests() == replicas_before
    assert proxy_after["5xx"] == proxy_before["5xx"]
    assert httpx.get(f"{stack.url}/health", timeout=30.0).status_code == 200
    say(f"{ABORTS} aborted uploads: none reached a replica, no 5xx")


# --- 5. error floods ----------------------------------------------------------------------------


def test_an_unknown_key_flood_costs_a_few_valid_requests(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    flood = flood_body(api_posts)
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        response = client.post("/rank", content=flood, headers=JSON)
        error = error_of(422, response.json(), "validation_error")
        costs = median_ms(
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


# --- 6. SIGTERM with a trickling upload, in every run mode --------------------------------------


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
    # supervisord, under make serve, exits 0 once it has stopped the service
    assert status == (0 if mode == "make serve" else STOPPED), log
    assert seconds <= GRACEFUL_S + SLACK_S, (seconds, log)
    say(f"{mode}: SIGTERM with a trickling upload, exit {status} after {seconds:.1f} s")


# --- 7. compressed bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", True), ("br", False), ("x-custom", False)]
)
def test_a_content_encoding_is_415_naming_it(
    stack: RunningStack, api_posts: list[dict[str, Any]], encoding: str, compress: bool
) -> None:
    body = rank_body(api_posts)
    response = httpx.post(
        f"{stack.url}/rank",
        content=gzip.compress(body) if compress else body,
        headers={**JSON, "content-encoding": encoding},
        timeout=30.0,
    )
    assert response.status_code == 415
    error = error_of(415, response.json(), "unsupported_content_encoding")
    assert repr(encoding) in error.message
    identity = httpx.post(
        f"{stack.url}/rank",
        content=body,
        headers={**JSON, "content-encoding": "identity"},
        timeout=30.0,
    )
    assert identity.status_code == 200


# --- the probes as a command --------------------------------------------------------------------


def test_the_edge_command_records_every_probe_and_the_report_renders_it(
    stack: RunningStack, tmp_path: Path
) -> None:
    """``python -m benchmarks.edge`` (``make edge``) against the session's front door, reduced:
    each probe is recorded with the answer the tests above expect of it."""
    record_path = tmp_path / "edge.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.edge", "--port", str(stack.stack.port), "--dir",
            str(stack.stack.run_dir), "--json", str(record_path), "--stalled", "2", "--repeats",
            "1", "--rounds", "3", "--bombs", "1", "--bomb-mib", "1", "--aborts", "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert record["limits"] == LIMITS
    found = {(probe["name"], probe["sent"]): probe for probe in record["probes"]}
    answered = {name: probe["statuses"] for (name, _), probe in found.items()}
    assert answered["valid /rank"] == {"200": 1}
    assert answered["head over the buffer"] == {"400": 1}
    assert answered["100 KB request target"] == {"400": 1}
    assert answered["Content-Length with Transfer-Encoding"] == {"200": 1}
    assert answered["malformed chunked body"] == {"400": 1}
    assert answered["two Content-Types"] == {"400": 1}
    assert answered["gzip body"] == {"415": 1}
    assert answered["declared body over the limit"] == {"413": 1}
    assert answered["chunked body over the limit"] == {"413": 1}
    assert answered["flood body, repeated"] == {"422": 3}
    assert answered["header bomb"] == {"400": 1}
    assert answered["aborted upload"]["replicas"] == 0
    assert "5xx" not in answered["aborted upload"]
    kept_alive = ["valid /rank", "8 KB of headers", "two Content-Types", "gzip body"]
    closing = [
        "head over the buffer",
        "100 KB request target",
        "Content-Length with Transfer-Encoding",
        "malformed chunked body",
        "declared body over the limit",
    ]
    closed = {name: probe["closed"] for (name, _), probe in found.items()}
    assert [closed[name] for name in kept_alive] == [0] * len(kept_alive), closed
    assert [closed[name] for name in closing] == [1] * len(closing), closed
    stalled = [probe for (name, _), probe in found.items() if name == "stalled socket"]
    assert [probe["sent"] for probe in stalled] == list(raw_http.STALLS)
    assert all(probe["closed"] == 2 for probe in stalled), stalled
    assert all(probe["slowest_s"] <= READ_TIMEOUT_S + SLACK_S for probe in stalled), stalled
    assert all(probe["statuses"] == {"408": 2} for probe in stalled), stalled
    report = report_with(tmp_path, "edge.json", record)
    assert "## The HTTP edge" in report and "| aborted upload |" in report
