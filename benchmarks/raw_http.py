"""Raw-socket HTTP/1.1 clients for the edge probes (``benchmarks.edge``) and their tests.

Standard library only, 127.0.0.1 only: what an ordinary client library will not send (stalled,
oversized or malformed requests, aborted uploads) and what it hides (whether the server closed
the connection after its answer, and when).
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final
from urllib.parse import urlsplit

CLOSE_WAIT_S: Final = 0.5
"""How long a connection must stay open after its answer to count as kept alive."""
STALLS: Final = {
    "a silent connection": b"",
    "half a header block": b"POST /rank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app",
    "headers, then 11 of 4,000 body bytes": b"POST /rank HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b'Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"posts": [',
}


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
