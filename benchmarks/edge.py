"""``python -m benchmarks.edge URL``: the HTTP edge probes against a running server, as figures.

Raw-socket clients on 127.0.0.1 only (stalled sockets, header bombs, aborted uploads, an error
flood) that return what they saw. ``tests/system/test_edge.py`` asserts on the same probes
against its own server processes; this command prints what they see on one already running.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import statistics
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from serving.payloads import load_posts

JSON = {"content-type": "application/json"}


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
    """``count`` sockets in thirds: silent; half a header block; headers and part of a body."""
    kinds = [
        b"",
        b"POST /rank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app",
        request_head("POST", "/rank", ["Content-Type: application/json", "Content-Length: 4000"])
        + b'{"posts": [',
    ]
    return [connect(url, kinds[index % 3]) for index in range(count)]


def seconds_until_closed(
    sockets: list[socket.socket], timeout: float, start: float | None = None
) -> list[float | None]:
    """For each socket, seconds from ``start`` (default now) until the server closed it (None:
    still open at ``timeout``); whatever the server wrote first (a 408) is read and dropped."""
    start = time.monotonic() if start is None else start
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
                if not data:
                    closed[key.data] = time.monotonic() - start
                    selector.unregister(ready)
    for sock in sockets:
        sock.close()
    return closed


def first_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the first response on ``sock``."""
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
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def header_bomb(url: str, header_bytes: int) -> int | None:
    """Sends a request whose header block is ``header_bytes`` long; the status, if any came."""
    sock = connect(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    line = b"X-Bomb: " + b"a" * 8000 + b"\r\n"
    try:
        for _ in range(header_bytes // len(line)):
            sock.sendall(line)
        sock.sendall(b"\r\n")
    except OSError:
        pass  # refused part-way: read the answer below
    try:
        return first_response(sock)[0]
    except (OSError, ValueError, IndexError):
        return None
    finally:
        sock.close()


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


def median_ms(client: httpx.Client, bodies: dict[str, bytes], rounds: int) -> dict[str, float]:
    """Median latency per body, the bodies interleaved so both see the same machine load."""
    seen: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(rounds):
        for name, body in bodies.items():
            start = time.perf_counter()
            client.post("/rank", content=body, headers=JSON)
            seen[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) * 1e3 for name, times in seen.items()}


def main(argv: list[str] | None = None) -> None:
    """Prints the probes' figures for the running server at URL."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edge", description=__doc__)
    parser.add_argument("url", help="a running server on 127.0.0.1, e.g. http://127.0.0.1:8000")
    url = parser.parse_args(argv).url
    posts = load_posts()[:20]
    opened = time.monotonic()
    sockets = stalled_clients(url, 30)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        health = client.get("/health").status_code
        closed = seconds_until_closed(sockets, 20.0, opened)
        valid = json.dumps({"posts": posts}).encode()
        costs = median_ms(client, {"valid": valid, "flood": flood_body(posts)}, 15)
        gzip = client.post(
            "/rank", content=b"\x1f\x8b\x08\x00", headers={**JSON, "content-encoding": "gzip"}
        )
    rss_before = rss_mib(url)
    bombs = [header_bomb(url, 8 * 2**20) for _ in range(2)]
    before = statuses(url)
    aborted_uploads(url, 200)
    time.sleep(1.0)
    after = statuses(url)
    delta = {
        key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)
    }
    figures = {
        "stalled sockets closed within 20 s": sum(t is not None for t in closed),
        "slowest close s": max((t for t in closed if t is not None), default=None),
        "health while stalled": health,
        "median ms valid / flood": costs,
        "gzip body": [gzip.status_code, gzip.json().get("error")],
        "8 MiB header blocks": bombs,
        "RSS MiB before / after bombs": [round(rss_before, 1), round(rss_mib(url), 1)],
        "/metrics change after 200 aborted uploads": {"/".join(k): v for k, v in delta.items()},
    }
    print(json.dumps(figures, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
