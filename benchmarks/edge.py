"""``python -m benchmarks.edge`` (``make edge``): the HTTP edge probes at the front door, as JSON.

Raw-socket clients on 127.0.0.1 only, against HAProxy (deploy/haproxy.cfg) in front of the
replicas: the stack of ``make stack``, started here on free ports unless ``--port``/``--dir``
name a running one. Each probe sends one kind of hostile or malformed request (stalled and idle
sockets, oversized heads and request lines, smuggling framing, malformed chunks, conflicting
headers, compressed or oversized bodies, an unknown-key flood, aborted uploads) and records what
was sent, the statuses that came back, the seconds until they came (or until the proxy hung
up) and how many connections it then closed, with HAProxy's and the replicas' resident memory
around the header bombs. The limits that size the probes are read from deploy/haproxy.cfg.
``--json`` writes the record; ``python -m benchmarks.report`` renders it into
reports/performance.md. ``tests/system/test_edge.py`` asserts on the same probes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from benchmarks.payloads import load_posts
from benchmarks.raw_http import (
    CLOSE_WAIT_S,
    STALLS,
    aborted_uploads,
    bomb_chunks,
    exchange,
    request_head,
    stalled_clients,
    until_closed,
)
from benchmarks.records import emit
from benchmarks.stack import limits
from scripts.stack import HOST, ROOT, Stack, StackError, started

JSON = {"content-type": "application/json"}


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


def single_requests(
    limits: Mapping[str, float], valid: bytes
) -> list[tuple[str, str, list[bytes]]]:
    """(name, what is sent, the bytes) of each probe that is one request on its own connection."""
    pad = 4 * int(limits["max_head_bytes"])
    declared = int(limits["max_body_bytes"]) + 1
    chunk = b" " * 65_536
    chunked = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (declared // len(chunk) + 2)
    json_head = ["Content-Type: application/json"]
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(valid), valid)
    gzipped = gzip.compress(valid)
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
            "100 KB request target",
            "GET /health?pad= and 100,000 more bytes",
            [request_head("GET", "/health?pad=" + "a" * 100_000)],
        ),
        (
            "Content-Length with Transfer-Encoding",
            "POST /rank, 20 posts chunked, with a Content-Length as well",
            [post_head([*json_head, "Transfer-Encoding: chunked"], len(valid)) + framed],
        ),
        (
            "malformed chunked body",
            "POST /rank, chunked, a chunk size that is not hexadecimal",
            [request_head("POST", "/rank", [*json_head, "Transfer-Encoding: chunked"]), b"zz\r\n"],
        ),
        (
            "two Content-Types",
            "POST /rank, 20 posts, as application/json and as text/plain",
            [post_head([*json_head, "Content-Type: text/plain"], len(valid)) + valid],
        ),
        (
            "gzip body",
            "POST /rank, 20 posts gzip-compressed, Content-Encoding: gzip",
            [post_head([*json_head, "Content-Encoding: gzip"], len(gzipped)) + gzipped],
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


@dataclass(frozen=True)
class FrontDoor:
    """The stack under test: HAProxy's URL, its statistics, its PID and the replicas' URLs."""

    url: str
    monitor: str
    proxy_pid: int
    replicas: list[str]

    @classmethod
    def of(cls, stack: Stack) -> FrontDoor:
        ports = stack.ports()
        pid = int(stack.rpc().supervisor.getProcessInfo("proxy")["pid"])
        names = ("STACK_REPLICA_1_PORT", "STACK_REPLICA_2_PORT")
        return cls(stack.url, stack.monitor, pid, [f"http://{HOST}:{ports[n]}" for n in names])

    def proxy_rss_mib(self) -> float:
        """HAProxy's resident memory, from /proc."""
        for line in Path(f"/proc/{self.proxy_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no VmRSS for HAProxy ({self.proxy_pid})")

    def memory(self) -> dict[str, float]:
        """Resident memory (MiB) of HAProxy and of each replica."""
        found = {"proxy": round(self.proxy_rss_mib(), 1)}
        for index, url in enumerate(self.replicas, start=1):
            found[f"replica-{index}"] = round(rss_mib(url), 1)
        return found

    def replica_requests(self) -> int:
        """POST /rank requests the replicas have counted, whatever their status."""
        return sum(
            count
            for url in self.replicas
            for (route, method, _), count in statuses(url).items()
            if (route, method) == ("/rank", "POST")
        )

    def proxy_responses(self) -> dict[str, int]:
        """Responses the front door has sent, by class (HAProxy's own statistics)."""
        return {
            s.labels["code"]: int(s.value)
            for s in _samples(self.monitor, "haproxy_frontend_http_responses_total")
            if s.labels.get("proxy") == "feedrank"
        }


def run_probes(
    door: FrontDoor, limits: Mapping[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    """Every probe against the front door; the stalled sockets stay open meanwhile."""
    posts = load_posts()[:20]
    valid = json.dumps({"posts": posts}).encode()
    opened = time.monotonic()
    sockets = stalled_clients(door.url, args.stalled * len(STALLS))
    probes = [
        probe(name, sent, [exchange(door.url, chunks) for _ in range(args.repeats)])
        for name, sent, chunks in single_requests(limits, valid)
    ]
    flood = flood_body(posts)
    with httpx.Client(base_url=door.url, timeout=30.0) as client:
        timed = timed_posts(client, {"valid": valid, "flood": flood}, args.rounds)
    for name, body in (("valid", valid), ("flood", flood)):
        what = "20 posts" if name == "valid" else "20 posts with 1,400 unknown keys each"
        sent = f"POST /rank, {what} ({len(body) / 1024:,.0f} KiB), kept-alive client, interleaved"
        outcomes: list[Outcome] = [(status, seconds, False) for status, seconds in timed[name]]
        probes.append(probe(f"{name} body, repeated", sent, outcomes, watched=False))
    waited = max(limits["request_timeout"], limits["body_timeout"]) + 10.0
    closing = until_closed(sockets, waited, opened)
    for index, sent in enumerate(STALLS):
        stalled = closing[index :: len(STALLS)]
        watched = [(status, seconds, seconds is not None) for status, seconds in stalled]
        probes.append(probe("stalled socket", sent, watched))
    memory_before = door.memory()
    bombs = [exchange(door.url, bomb_chunks(args.bomb_mib * 2**20)) for _ in range(args.bombs)]
    memory_after = door.memory()
    probes.append(
        probe("header bomb", f"GET /health, {args.bomb_mib} MiB of headers in 8 KB lines", bombs)
    )
    probes.append(aborts(door, args.aborts))
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "client": {"python": platform.python_version(), "machine": platform.machine()},
        "limits": dict(limits),
        "close_wait_s": CLOSE_WAIT_S,
        "rss_mib": {"before_bombs": memory_before, "after_bombs": memory_after},
        "probes": [asdict(found) for found in probes],
    }


def aborts(door: FrontDoor, count: int) -> Probe:
    """``count`` aborted uploads: what the front door answered (HAProxy's responses by class;
    ``other``: none, the client had gone) and how many reached a replica (``replicas``)."""
    replicas_before, proxy_before = door.replica_requests(), door.proxy_responses()
    aborted_uploads(door.url, count)
    time.sleep(1.0)  # the proxy notices each hang-up as it reads
    proxy_after = door.proxy_responses()
    found = {code: n - proxy_before.get(code, 0) for code, n in proxy_after.items()}
    found = {code: n for code, n in found.items() if n}
    found["replicas"] = door.replica_requests() - replicas_before
    sent = "POST /rank, headers and 2 KB of a 20,000-byte body, then the client hangs up"
    return Probe("aborted upload", sent, count, found, None, None, None)


@contextlib.contextmanager
def served(args: argparse.Namespace) -> Iterator[Stack]:
    """The running stack ``args`` name, or one started here on free ports."""
    if args.port is not None:
        yield Stack(args.port, args.dir)
        return
    with tempfile.TemporaryDirectory() as scratch:
        try:
            with started(Path(scratch), Path(sys.executable).parent) as stack:
                yield stack
        except StackError as error:
            raise SystemExit(f"error: the stack did not start: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edge", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="a running stack's front door")
    parser.add_argument("--dir", type=Path, default=ROOT / "data" / "stack", help="its run dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the record here")
    parser.add_argument("--stalled", type=int, default=174, help="sockets of each stalled kind")
    parser.add_argument("--repeats", type=int, default=3, help="sends of each single request")
    parser.add_argument("--rounds", type=int, default=15, help="valid and flood bodies, each")
    parser.add_argument("--bombs", type=int, default=2, help="header bombs, one after another")
    parser.add_argument("--bomb-mib", type=int, default=8, help="header bytes per bomb, MiB")
    parser.add_argument("--aborts", type=int, default=200, help="aborted uploads")
    args = parser.parse_args(argv)
    with served(args) as stack:
        record = run_probes(FrontDoor.of(stack), limits(), args)
    emit(record, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
