"""Latency benchmark for a running feedrank server.

    python benchmark.py --url http://127.0.0.1:8000 --requests 1000 --concurrency 8

One run, one server, three measured phases after an unrecorded warm-up:

- ``health``: GET /health, the framework-only baseline;
- ``rank_mixed``: POST /rank with slates of 1-20 posts (uniform), sampled from data/posts.csv
  (or generated when it is absent), i.e. realistic traffic;
- ``rank_20``: POST /rank with 20 posts, the largest request the contract allows.

Each phase reports count, errors, throughput and mean/p50/p95/p99 latency as the client sees
it (connect + send + server + receive); beside it the server's own time for the same requests
(p50/p95/p99 of the ``Server-Timing`` header: validate + featurise + predict + serialise), the
server's CPU per request (``process_cpu_seconds_total`` from /metrics, read before and after
the phase), which is what capacity planning needs, and this client's own CPU per request. A
Python client costs about as much CPU per request as the server, so its throughput and
round-trip figures describe the client as much as the server; ``--wrk`` measures them with a
compiled load generator instead (below). The headline is median(rank_20) / median(health): how
much ranking 20 posts adds to the cheapest request the same server answers. Exits 1 if any
request failed.

wrk mode, ``--wrk``: the same three phases driven by wrk (``benchmarks/bodies.lua`` replays the
bodies) for ``--wrk-seconds`` each, reporting count, errors, throughput and wrk's latency
percentiles, with the server CPU per request from /metrics:

    python benchmark.py --url http://127.0.0.1:8000 --wrk --concurrency 32

Soak mode, ``--duration SECONDS``: realistic /rank traffic (slates of 1-20 posts) for a fixed
time instead of a fixed count, reporting requests, errors and p50/p95/p99 per window and overall,
and the server's resident memory (``process_resident_memory_bytes``) and open file descriptors
from /metrics after the warm-up, at the end of every window and at the end. Exits 1 on any
failed request or when RSS grew by more than ``--max-rss-growth-mib`` between warm-up and end:

    python benchmark.py --url http://127.0.0.1:8000 --duration 60 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

from benchmarks.payloads import DEFAULT_DATA, describe_source, load_posts, slate_body
from benchmarks.tables import latency_summary, render
from benchmarks.wrk import WrkError
from benchmarks.wrk_mode import wrk_benchmark

MAX_POSTS: Final = 20
JSON_HEADERS: Final = {"content-type": "application/json"}


@dataclass(frozen=True)
class Call:
    """One request to make: GET when ``body`` is None, else POST /rank."""

    path: str
    body: bytes | None = None


@dataclass
class PhaseResult:
    """What one phase measured; latencies in milliseconds."""

    name: str
    count: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    throughput_rps: float = 0.0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    server_p50_ms: float | None = None
    server_p95_ms: float | None = None
    server_p99_ms: float | None = None
    server_cpu_ms_per_request: float | None = None
    client_cpu_ms_per_request: float | None = None


async def server_gauges(client: httpx.AsyncClient) -> dict[str, float]:
    """The server's ``process_*`` samples from /metrics (empty if it exposes none)."""
    try:
        text = (await client.get("/metrics")).text
    except httpx.HTTPError:
        return {}
    gauges = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("process_"):
            gauges[name] = float(value)
    return gauges


async def server_cpu_seconds(client: httpx.AsyncClient) -> float | None:
    """The server's ``process_cpu_seconds_total`` from /metrics, if it exposes one."""
    return (await server_gauges(client)).get("process_cpu_seconds_total")


async def run_phase(
    client: httpx.AsyncClient,
    name: str,
    calls: list[Call],
    concurrency: int,
    progress: bool,
) -> PhaseResult:
    """Sends ``calls`` from ``concurrency`` workers; each records its own latencies."""
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: Counter[str] = Counter()
    queue = iter(calls)
    bar = tqdm(total=len(calls), desc=f"{name:<10}", unit="req", disable=not progress, leave=False)

    async def worker() -> None:
        for call in queue:
            start = time.perf_counter()
            try:
                if call.body is None:
                    response = await client.get(call.path)
                else:
                    response = await client.post(call.path, content=call.body, headers=JSON_HEADERS)
                elapsed = time.perf_counter() - start
            except httpx.HTTPError as error:
                errors[type(error).__name__] += 1
            else:
                if response.status_code == 200:
                    latencies.append(elapsed * 1e3)
                    timing = response.headers.get("server-timing")
                    if timing:
                        server_ms.append(_server_total_ms(timing))
                else:
                    errors[f"HTTP {response.status_code}"] += 1
            bar.update()

    cpu_start = await server_cpu_seconds(client)
    wall_start, client_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, client_cpu = time.perf_counter() - wall_start, time.process_time() - client_start
    cpu_end = await server_cpu_seconds(client)
    bar.close()
    result = PhaseResult(name=name, count=len(calls), errors=sum(errors.values()))
    if cpu_start is not None and cpu_end is not None and calls:
        result.server_cpu_ms_per_request = (cpu_end - cpu_start) * 1e3 / len(calls)
    result.error_kinds = dict(errors)
    result.wall_seconds = wall
    result.throughput_rps = len(calls) / wall if wall > 0 else 0.0
    result.client_cpu_ms_per_request = client_cpu * 1e3 / len(calls) if calls else None
    if latencies:
        summary = latency_summary(latencies)
        result.mean_ms, result.p50_ms = summary["mean_ms"], summary["p50_ms"]
        result.p95_ms, result.p99_ms = summary["p95_ms"], summary["p99_ms"]
    if server_ms:
        summary = latency_summary(server_ms)
        result.server_p50_ms, result.server_p95_ms = summary["p50_ms"], summary["p95_ms"]
        result.server_p99_ms = summary["p99_ms"]
    return result


@dataclass
class SoakWindow:
    """One window of a soak run; RSS and open fds are sampled at its end."""

    end_s: float
    count: int
    errors: int
    p99_ms: float
    rss_mib: float | None
    open_fds: float | None


async def soak(client: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    """``args.concurrency`` workers send mixed slates for ``args.duration`` seconds."""
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    pool = [slate_body(posts, rng.randint(1, MAX_POSTS), rng) for _ in range(2_000)]
    warmup = [Call("/rank", pool[index % len(pool)]) for index in range(args.warmup)]
    await run_phase(client, "warm-up", warmup, args.concurrency, progress=False)
    before = await server_gauges(client)
    samples: list[tuple[float, float]] = []  # (seconds since start, latency ms) of 200s
    errors: list[tuple[float, str]] = []
    start = time.perf_counter()
    deadline = start + args.duration
    next_body = iter(itertools.cycle(pool))

    async def worker() -> None:
        while (sent := time.perf_counter()) < deadline:
            try:
                response = await client.post("/rank", content=next(next_body), headers=JSON_HEADERS)
            except httpx.HTTPError as error:
                errors.append((sent - start, type(error).__name__))
                continue
            done = time.perf_counter()
            if response.status_code == 200:
                samples.append((sent - start, (done - sent) * 1e3))
            else:
                errors.append((sent - start, f"HTTP {response.status_code}"))

    windows: list[SoakWindow] = []

    async def sampler() -> None:
        bar = tqdm(total=round(args.duration), desc="soak", unit="s", disable=not args.progress)
        boundary = 0.0
        while boundary < args.duration:
            boundary = min(boundary + args.window, args.duration)
            await asyncio.sleep(max(0.0, start + boundary - time.perf_counter()))
            gauges = await server_gauges(client)
            in_window = [ms for at, ms in samples if boundary - args.window <= at < boundary]
            window_errors = sum(boundary - args.window <= at < boundary for at, _ in errors)
            rss = gauges.get("process_resident_memory_bytes")
            windows.append(
                SoakWindow(
                    end_s=boundary,
                    count=len(in_window) + window_errors,
                    errors=window_errors,
                    p99_ms=latency_summary(in_window)["p99_ms"],
                    rss_mib=rss / 2**20 if rss is not None else None,
                    open_fds=gauges.get("process_open_fds"),
                )
            )
            bar.update(round(boundary) - bar.n)
        bar.close()

    await asyncio.gather(sampler(), *(worker() for _ in range(args.concurrency)))
    wall = time.perf_counter() - start
    after = await server_gauges(client)
    rss_start = before.get("process_resident_memory_bytes")
    rss_end = after.get("process_resident_memory_bytes")
    growth = None
    if rss_start is not None and rss_end is not None:
        growth = (rss_end - rss_start) / 2**20
    count = len(samples) + len(errors)
    cpu_start, cpu_end = (g.get("process_cpu_seconds_total") for g in (before, after))
    cpu_per_request = None
    if cpu_start is not None and cpu_end is not None and count:
        cpu_per_request = (cpu_end - cpu_start) * 1e3 / count
    return {
        "mode": "soak",
        "url": args.url,
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "warmup_requests": args.warmup,
        "client": {"python": platform.python_version(), "machine": platform.machine()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "requests": count,
        "errors": len(errors),
        "error_kinds": dict(Counter(kind for _, kind in errors)),
        "throughput_rps": count / wall if wall > 0 else 0.0,
        **latency_summary([ms for _, ms in samples]),
        "server_cpu_ms_per_request": cpu_per_request,
        "rss_start_mib": rss_start / 2**20 if rss_start is not None else None,
        "rss_end_mib": rss_end / 2**20 if rss_end is not None else None,
        "rss_growth_mib": growth,
        "max_rss_growth_mib": args.max_rss_growth_mib,
        "open_fds_start": before.get("process_open_fds"),
        "open_fds_end": after.get("process_open_fds"),
        "windows": [asdict(window) for window in windows],
        "passed": not errors and (growth is None or growth <= args.max_rss_growth_mib),
    }


def render_soak(report: dict[str, Any]) -> str:
    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"feedrank soak: {report['url']}  {report['duration_s']:g} s at concurrency "
        f"{report['concurrency']}  (warm-up {report['warmup_requests']} requests, excluded)",
        f"{'window end':>10}{'requests':>10}{'errors':>8}{'p99 ms':>9}{'RSS MiB':>9}{'fds':>6}",
    ]
    for window in report["windows"]:
        fds = "-" if window["open_fds"] is None else f"{window['open_fds']:.0f}"
        lines.append(
            f"{window['end_s']:>9.0f}s{window['count']:>10}{window['errors']:>8}"
            f"{window['p99_ms']:>9.2f}{mib(window['rss_mib']):>9}{fds:>6}"
        )
    lines.append(
        f"requests {report['requests']}, errors {report['errors']}"
        + (f" {report['error_kinds']}" if report["error_kinds"] else "")
        + f", {report['throughput_rps']:.0f} req/s; latency ms: mean {report['mean_ms']:.2f}, "
        f"p50 {report['p50_ms']:.2f}, p95 {report['p95_ms']:.2f}, p99 {report['p99_ms']:.2f}"
    )
    growth = report["rss_growth_mib"]
    lines.append(
        f"server RSS {mib(report['rss_start_mib'])} MiB after warm-up -> "
        f"{mib(report['rss_end_mib'])} MiB at end (growth {mib(growth)} MiB, limit "
        f"{report['max_rss_growth_mib']:g}); open fds {report['open_fds_start']} -> "
        f"{report['open_fds_end']}"
    )
    lines.append("soak " + ("PASSED" if report["passed"] else "FAILED"))
    return "\n".join(lines)


def _server_total_ms(header: str) -> float:
    """Sums the ``dur`` of every metric in a ``Server-Timing`` header."""
    total = 0.0
    for metric in header.split(","):
        for param in metric.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key == "dur":
                total += float(value)
    return total


def build_calls(args: argparse.Namespace) -> dict[str, list[Call]]:
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    mixed = [
        Call("/rank", slate_body(posts, rng.randint(1, MAX_POSTS), rng))
        for _ in range(args.requests)
    ]
    return {
        "health": [Call("/health")] * args.requests,
        "rank_mixed": mixed,
        "rank_20": [Call("/rank", slate_body(posts, MAX_POSTS, rng)) for _ in range(args.requests)],
    }


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    # one connection more than the workers: soak mode samples /metrics alongside them
    limits = httpx.Limits(
        max_connections=args.concurrency + 1, max_keepalive_connections=args.concurrency + 1
    )
    async with httpx.AsyncClient(base_url=args.url, timeout=args.timeout, limits=limits) as client:
        try:
            (await client.get("/ready")).raise_for_status()
        except httpx.HTTPError as error:
            raise SystemExit(f"error: {args.url}/ready is not answering 200: {error}") from None
        if args.duration is not None:
            return await soak(client, args)
        calls = build_calls(args)
        warmup = [call for phase in calls.values() for call in phase[: args.warmup]]
        await run_phase(client, "warm-up", warmup, args.concurrency, args.progress)
        phases = [
            await run_phase(client, name, phase_calls, args.concurrency, args.progress)
            for name, phase_calls in calls.items()
        ]
    by_name = {phase.name: phase for phase in phases}
    health, rank_20 = by_name["health"].p50_ms, by_name["rank_20"].p50_ms
    ratio = rank_20 / health if health > 0 else float("inf")
    return {
        "url": args.url,
        "requests_per_phase": args.requests,
        "concurrency": args.concurrency,
        "warmup_per_phase": args.warmup,
        "slates": describe_source(args.data),
        "client": {"python": platform.python_version(), "machine": platform.machine()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "phases": {phase.name: asdict(phase) for phase in phases},
        "ratio_rank20_p50_over_health_p50": ratio,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--requests", type=int, default=1000, help="requests per phase (>= 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=100, help="unrecorded requests per phase")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="posts to sample slates from"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    wrk_mode = parser.add_argument_group("wrk mode")
    wrk_mode.add_argument("--wrk", action="store_true", help="drive the phases with wrk")
    wrk_mode.add_argument("--wrk-seconds", type=float, default=10.0, help="per phase (wrk mode)")
    soak_mode = parser.add_argument_group("soak mode")
    soak_mode.add_argument(
        "--duration", type=float, default=None, help="send /rank traffic for this many seconds"
    )
    soak_mode.add_argument(
        "--window", type=float, default=10.0, help="seconds per reported window (default 10)"
    )
    soak_mode.add_argument(
        "--max-rss-growth-mib",
        type=float,
        default=32.0,
        help="fail if server RSS grows more than this from warm-up to end (default 32)",
    )
    args = parser.parse_args(argv)
    if args.requests < 200:
        parser.error("--requests must be at least 200 (percentiles need the samples)")
    if args.concurrency < 1 or args.warmup < 0:
        parser.error("--concurrency must be >= 1 and --warmup >= 0")
    if args.duration is not None and not (args.duration > 0 and args.window > 0):
        parser.error("--duration and --window must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wrk:
        try:
            report, text = wrk_benchmark(args)
        except WrkError as error:
            raise SystemExit(f"error: {error}") from None
        print(text)
    else:
        report = asyncio.run(benchmark(args))
        print(render_soak(report) if args.duration is not None else render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.duration is not None and not args.wrk:
        return 0 if report["passed"] else 1
    failed = sum(phase["errors"] for phase in report["phases"].values())
    if failed:
        sys.stderr.write(f"error: {failed} request(s) failed (see the errors column)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
