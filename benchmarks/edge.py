"""``python -m benchmarks.edge`` (``make edge``): the HTTP edge probes, recorded as JSON.

Raw-socket clients on 127.0.0.1 only. Each probe sends one kind of hostile or malformed request
(stalled sockets, oversized heads, conflicting headers, compressed or oversized bodies, an
unknown-key flood, aborted uploads) and records what was sent, the statuses that came back, the
seconds until they came (or until the server hung up) and how many connections the server then
closed. Without ``--url`` the command starts ``python -m serving`` on models/ with the settings it
ships, which size the probes. ``--json`` writes the record; ``python -m benchmarks.report``
renders it into reports/performance.md. ``tests/system/test_edge.py`` asserts on the same probes
against its own server processes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import selectors
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from benchmarks.payloads import load_posts
from benchmarks.perf import HOST, ROOT, Target, free_port, running
from serving.settings import Settings

JSON = {"content-type": "application/json"}
CLOSE_WAIT_S: Final = 0.5
"""How long a connection must stay open after its answer to count as kept alive."""
STALLS: Final = {
    "a silent connection": b"",
    "half a header block": b"POST /rank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app",
    "headers, then 11 of 4,000 body bytes": b"POST /rank HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b'Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"posts": [',
}


@dataclass(frozen=True)
class Probe:
    """One kind of request sent ``count`` times; ``statuses`` maps each status (``none``: the
    server hung up without one) to how often it came. Seconds run from the first byte sent to
    the answer, or to the close when none came; ``closed`` counts the connections the server
    closed (None where the client hung up)."""

    name: str
    sent: str
    count: int
    statuses: dict[str, int]
    median_s: float | None
    slowest_s: float | None
    closed: int | None


Outcome = tuple[int | None, float | None, bool]
"""An exchange's status (None: none came), seconds, and whether the server closed it."""


def probe(name: str, sent: str, outcomes: Sequence[Outcome], watched: bool = True) -> Probe:
    """Sums up ``outcomes``; ``watched``: whether the closes were watched for."""
    seconds = [s for _, s, _ in outcomes if s is not None]
    return Probe(
        name=name,
        sent=sent,
        count=len(outcomes),
        statuses=dict(
            Counter("none" if status is None else str(status) for status, _, _ in outcomes)
        ),
        median_s=statistics.median(seconds) if seconds else None,
        slowest_s=max(seconds) if seconds else None,
        closed=sum(closed for _, _, closed in outcomes) if watched else None,
    )


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", "edge clients only talk to 127.0.0.1"
    return parts.hostname, parts.port or 80


def connect(url: str, payload: bytes = b"") -> socket.socket:
    sock = socket.create_connection(address(url), timeout=10.0)
    if payload:
        sock.sendall(payload)
    return sock


def request_head(method: str, path: str, extra: Iterable[str] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stalled_clients(url: str, count: int) -> list[socket.socket]:
    """``count`` sockets, each kind of ``STALLS`` in turn."""
    kinds = list(STALLS.values())
    return [connect(url, kinds[index % len(kinds)]) for index in range(count)]


def until_closed(
    sockets: list[socket.socket], timeout: float, start: float | None = None
) -> list[tuple[int | None, float | None]]:
    """For each socket, the status the server wrote before it closed it (None: none) and the
    seconds from ``start`` (default now) until it closed it (None: still open at ``timeout``)."""
    start = time.monotonic() if start is None else start
    written = [b""] * len(sockets)
    closed: list[float | None] = [None] * len(sockets)
    with selectors.DefaultSelector() as selector:
        for index, sock in enumerate(sockets):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, index)
        while selector.get_map() and (left := timeout - (time.monotonic() - start)) > 0:
            for key, _ in selector.select(left):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    data = ready.recv(65536)
                except OSError:
                    data = b""
                written[key.data] += data[:64]
                if not data:
                    closed[key.data] = time.monotonic() - start
                    selector.unregister(ready)
    for sock in sockets:
        sock.close()
    return [(status_of(head), seconds) for head, seconds in zip(written, closed, strict=True)]


def status_of(head: bytes) -> int | None:
    """The status code of a response's first bytes, if they hold a status line."""
    parts = head.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first response on ``sock``."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def first_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the first response on ``sock``."""
    status, headers, body = read_response(sock, timeout)
    return status, headers, json.loads(body) if body else None


def exchange(url: str, chunks: Iterable[bytes]) -> tuple[int | None, float, bool]:
    """Sends ``chunks`` on a new connection: the status of the answer (None: the server hung up
    without one), the seconds from the first byte sent until it came, and whether the server
    then closed the connection (a kept-alive one stays open ``CLOSE_WAIT_S``)."""
    sock = connect(url)
    start = time.monotonic()
    try:
        for chunk in chunks:
            sock.sendall(chunk)
    except OSError:
        pass  # refused part-way: the answer, if any, is read below
    status: int | None
    try:
        status = read_response(sock, 30.0)[0]
    except (OSError, ValueError, IndexError):
        status = None
    seconds = time.monotonic() - start
    sock.settimeout(CLOSE_WAIT_S)
    with sock:
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        except OSError:
            closed = True  # reset
    return status, seconds, closed


def bomb_chunks(header_bytes: int) -> Iterator[bytes]:
    """A GET /health whose header block is ``header_bytes`` long, 8 KB a line."""
    yield b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    line = b"X-Bomb: " + b"a" * 8000 + b"\r\n"
    for _ in range(header_bytes // len(line)):
        yield line
    yield b"\r\n"


def header_bomb(url: str, header_bytes: int) -> int | None:
    """Sends a request whose header block is ``header_bytes`` long; the status, if any came."""
    return exchange(url, bomb_chunks(header_bytes))[0]


def aborted_uploads(url: str, count: int, batch: int = 50) -> None:
    """``count`` uploads that send their headers and a tenth of a 20 KB body, then hang up."""
    head = request_head(
        "POST", "/rank", ["Content-Type: application/json", "Content-Length: 20000"]
    )
    for start in range(0, count, batch):
        sockets = [
            connect(url, head + b"[" + b" " * 2000) for _ in range(min(batch, count - start))
        ]
        time.sleep(0.05)  # the server is reading those bodies now
        for sock in sockets:
            sock.close()


def _samples(url: str, name: str, timeout: float = 10.0) -> list[Sample]:
    """The samples called ``name`` in /metrics, read with prometheus_client's own parser."""
    text = httpx.get(f"{url}/metrics", timeout=timeout).text
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def statuses(url: str) -> dict[tuple[str, str, str], int]:
    """``feedrank_http_requests_total`` from /metrics: (route, method, status) -> count."""
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): int(s.value)
        for s in _samples(url, "feedrank_http_requests_total")
    }


def rss_mib(url: str) -> float:
    found = _samples(url, "process_resident_memory_bytes")
    assert found, "no RSS in /metrics"
    return found[0].value / 2**20


def flood_body(posts: list[dict[str, Any]], keys_per_post: int = 1400) -> bytes:
    """An error flood: 20 posts, each with ``keys_per_post`` unknown keys (~230 KB)."""
    flooded = [{**post, **{str(key): 0 for key in range(keys_per_post)}} for post in posts[:20]]
    return json.dumps({"posts": flooded}, separators=(",", ":")).encode()


def timed_posts(
    client: httpx.Client, bodies: dict[str, bytes], rounds: int
) -> dict[str, list[tuple[int, float]]]:
    """(status, seconds) of each POST /rank per body, the bodies interleaved so both see the
    same machine load."""
    seen: dict[str, list[tuple[int, float]]] = {name: [] for name in bodies}
    for _ in range(rounds):
        for name, body in bodies.items():
            start = time.perf_counter()
            status = client.post("/rank", content=body, headers=JSON).status_code
            seen[name].append((status, time.perf_counter() - start))
    return seen


def median_ms(client: httpx.Client, bodies: dict[str, bytes], rounds: int) -> dict[str, float]:
    """Median latency per body, the bodies interleaved so both see the same machine load."""
    return {
        name: statistics.median(seconds for _, seconds in seen) * 1e3
        for name, seen in timed_posts(client, bodies, rounds).items()
    }


def single_requests(settings: Settings, valid: bytes) -> list[tuple[str, str, list[bytes]]]:
    """(name, what is sent, the bytes) of each probe that is one request on its own connection."""
    pad = 4 * settings.max_header_bytes
    declared = settings.max_body_bytes + 1
    chunk = b" " * 65_536
    chunked = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (settings.max_body_bytes // len(chunk) + 2)
    json_head = ["Content-Type: application/json"]
    return [
        ("valid /rank", "POST /rank, 20 posts", [post_head(json_head, len(valid)) + valid]),
        (
            "8 KB of headers",
            "GET /health with one 8,000-byte header",
            [request_head("GET", "/health", ["X-Pad: " + "a" * 8000])],
        ),
        (
            "head over the buffer",
            f"GET /health with one {pad:,}-byte header at once",
            [request_head("GET", "/health", ["X-Pad: " + "a" * pad])],
        ),
        (
            "request target over 64 KiB",
            "GET /health?pad= and 65,536 more bytes",
            [request_head("GET", "/health?pad=" + "a" * 65_536)],
        ),
        (
            "two Content-Types",
            "POST /rank, 20 posts, as application/json and as text/plain",
            [post_head([*json_head, "Content-Type: text/plain"], len(valid)) + valid],
        ),
        (
            "gzip body",
            "POST /rank, 20 posts gzip-compressed, Content-Encoding: gzip",
            [
                post_head([*json_head, "Content-Encoding: gzip"], len(gzip.compress(valid)))
                + gzip.compress(valid)
            ],
        ),
        (
            "declared body over the limit",
            f"POST /rank, Content-Length {declared:,}, then 1 KB of the body",
            [post_head(json_head, declared) + b"[" + b" " * 1023],
        ),
        (
            "chunked body over the limit",
            f"POST /rank, chunked, {len(chunked) * len(chunk):,} bytes in 64 KiB chunks",
            [request_head("POST", "/rank", [*json_head, "Transfer-Encoding: chunked"]), *chunked],
        ),
    ]


def post_head(headers: list[str], length: int) -> bytes:
    return request_head("POST", "/rank", [*headers, f"Content-Length: {length}"])


def run_probes(url: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Every probe against the server at ``url``; the stalled sockets stay open meanwhile."""
    posts = load_posts()[:20]
    valid = json.dumps({"posts": posts}).encode()
    opened = time.monotonic()
    sockets = stalled_clients(url, args.stalled * len(STALLS))
    probes = [
        probe(name, sent, [exchange(url, chunks) for _ in range(args.repeats)])
        for name, sent, chunks in single_requests(settings, valid)
    ]
    flood = flood_body(posts)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        timed = timed_posts(client, {"valid": valid, "flood": flood}, args.rounds)
    for name, body in (("valid", valid), ("flood", flood)):
        what = "20 posts" if name == "valid" else "20 posts with 1,400 unknown keys each"
        sent = f"POST /rank, {what} ({len(body) / 1024:,.0f} KiB), kept-alive client, interleaved"
        outcomes: list[Outcome] = [(status, seconds, False) for status, seconds in timed[name]]
        probes.append(probe(f"{name} body, repeated", sent, outcomes, watched=False))
    closing = until_closed(
        sockets, max(settings.header_timeout, settings.body_timeout) + 10.0, opened
    )
    for index, sent in enumerate(STALLS):
        stalled = closing[index :: len(STALLS)]
        watched = [(status, seconds, seconds is not None) for status, seconds in stalled]
        probes.append(probe("stalled socket", sent, watched))
    rss_before = rss_mib(url)
    bombs = [exchange(url, bomb_chunks(args.bomb_mib * 2**20)) for _ in range(args.bombs)]
    rss_after = rss_mib(url)
    probes.append(
        probe("header bomb", f"GET /health, {args.bomb_mib} MiB of headers in 8 KB lines", bombs)
    )
    probes.append(aborts(url, args.aborts))
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "client": {"python": platform.python_version(), "machine": platform.machine()},
        "settings": settings.model_dump(include=EDGE_SETTINGS),
        "close_wait_s": CLOSE_WAIT_S,
        "rss_mib": {"before_bombs": round(rss_before, 1), "after_bombs": round(rss_after, 1)},
        "probes": [asdict(found) for found in probes],
    }


def aborts(url: str, count: int) -> Probe:
    """``count`` aborted uploads; their statuses are what /metrics counted for them."""
    before = statuses(url)
    aborted_uploads(url, count)
    deadline = time.monotonic() + 10.0
    while True:  # the server notices each hang-up as it reads
        after = statuses(url)
        delta = {
            status: n - before.get((route, method, status), 0)
            for (route, method, status), n in after.items()
            if (route, method) == ("/rank", "POST") and n != before.get((route, method, status), 0)
        }
        if sum(delta.values()) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    sent = "POST /rank, headers and 2 KB of a 20,000-byte body, then the client hangs up"
    return Probe("aborted upload", sent, count, delta, None, None, None)


EDGE_SETTINGS: Final = {"max_header_bytes", "header_timeout", "max_body_bytes", "body_timeout"}


@contextlib.contextmanager
def served(url: str | None) -> Iterator[str]:
    """``url``, or a ``python -m serving`` of models/ started here with the shipped settings."""
    if url is not None:
        address(url)
        yield url
        return
    port = free_port()
    command = [sys.executable, "-m", "serving", "--host", HOST, "--port", str(port)]
    started = f"http://{HOST}:{port}"
    with running(Target(command, ROOT, dict(os.environ), "/ready"), started):
        yield started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edge", description=__doc__)
    parser.add_argument(
        "--url", default=None, help="a running server on 127.0.0.1 (default: start one)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the record here")
    parser.add_argument("--stalled", type=int, default=10, help="sockets of each stalled kind")
    parser.add_argument("--repeats", type=int, default=3, help="sends of each single request")
    parser.add_argument("--rounds", type=int, default=15, help="valid and flood bodies, each")
    parser.add_argument("--bombs", type=int, default=2, help="header bombs, one after another")
    parser.add_argument("--bomb-mib", type=int, default=8, help="header bytes per bomb, MiB")
    parser.add_argument("--aborts", type=int, default=200, help="aborted uploads")
    args = parser.parse_args(argv)
    settings = Settings()
    with served(args.url) as url:
        record = run_probes(url, settings, args)
    text = json.dumps(record, indent=2) + "\n"
    sys.stdout.write(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
