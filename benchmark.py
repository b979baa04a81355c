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
import platform
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.client import Call, run_phase
from benchmarks.payloads import (
    DEFAULT_DATA,
    MAX_POSTS,
    describe_source,
    load_posts,
    slate_body,
)
from benchmarks.records import write_record
from benchmarks.soak import render_soak, soak
from benchmarks.tables import render
from benchmarks.wrk import WrkError
from benchmarks.wrk_mode import wrk_benchmark


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
        write_record(report, args.json)
    if args.duration is not None and not args.wrk:
        return 0 if report["passed"] else 1
    failed = sum(phase["errors"] for phase in report["phases"].values())
    if failed:
        sys.stderr.write(f"error: {failed} request(s) failed (see the errors column)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
