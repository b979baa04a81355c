"""``benchmark.py --duration``: realistic /rank traffic for a fixed time, reported per window.

Workers send mixed slates (1-20 posts) until the deadline; a sampler closes a window every
``--window`` seconds, reading the server's resident memory and open file descriptors from its
/metrics. The run passes with no failed request and RSS growth within ``--max-rss-growth-mib``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import httpx
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

from benchmarks.client import JSON_HEADERS, Call, run_phase, server_gauges
from benchmarks.payloads import MAX_POSTS, load_posts, slate_body
from benchmarks.tables import latency_summary

BODIES: Final = 2_000
RSS: Final = "process_resident_memory_bytes"
FDS: Final = "process_open_fds"
CPU: Final = "process_cpu_seconds_total"


@dataclass
class SoakWindow:
    """One window of a soak run; RSS and open fds are sampled at its end."""

    end_s: float
    count: int
    errors: int
    p99_ms: float
    rss_mib: float | None
    open_fds: float | None


@dataclass
class SoakLog:
    """What the workers saw, stamped with seconds since ``start``, and the closed windows."""

    start: float
    samples: list[tuple[float, float]] = field(default_factory=list)  # (at, latency ms) of 200s
    errors: list[tuple[float, str]] = field(default_factory=list)  # (at, kind)
    windows: list[SoakWindow] = field(default_factory=list)

    def close_window(self, end: float, width: float, gauges: dict[str, float]) -> None:
        latencies = [ms for at, ms in self.samples if end - width <= at < end]
        errors = sum(end - width <= at < end for at, _ in self.errors)
        rss = gauges.get(RSS)
        self.windows.append(
            SoakWindow(
                end_s=end,
                count=len(latencies) + errors,
                errors=errors,
                p99_ms=latency_summary(latencies)["p99_ms"],
                rss_mib=mib(rss),
                open_fds=gauges.get(FDS),
            )
        )


def mib(value: float | None) -> float | None:
    return value / 2**20 if value is not None else None


async def worker(
    client: httpx.AsyncClient, bodies: Iterator[bytes], log: SoakLog, deadline: float
) -> None:
    """Posts the next body until ``deadline``, recording every outcome."""
    while (sent := time.perf_counter()) < deadline:
        try:
            response = await client.post("/rank", content=next(bodies), headers=JSON_HEADERS)
        except httpx.HTTPError as error:
            log.errors.append((sent - log.start, type(error).__name__))
            continue
        done = time.perf_counter()
        if response.status_code == 200:
            log.samples.append((sent - log.start, (done - sent) * 1e3))
        else:
            log.errors.append((sent - log.start, f"HTTP {response.status_code}"))


async def sampler(client: httpx.AsyncClient, log: SoakLog, args: argparse.Namespace) -> None:
    """Closes a window every ``args.window`` seconds with the server's gauges at its end."""
    bar = tqdm(total=round(args.duration), desc="soak", unit="s", disable=not args.progress)
    boundary = 0.0
    while boundary < args.duration:
        boundary = min(boundary + args.window, args.duration)
        await asyncio.sleep(max(0.0, log.start + boundary - time.perf_counter()))
        log.close_window(boundary, args.window, await server_gauges(client))
        bar.update(round(boundary) - bar.n)
    bar.close()


async def soak(client: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    """``args.concurrency`` workers send mixed slates for ``args.duration`` seconds."""
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    pool = [slate_body(posts, rng.randint(1, MAX_POSTS), rng) for _ in range(BODIES)]
    warmup = [Call("/rank", pool[index % len(pool)]) for index in range(args.warmup)]
    await run_phase(client, "warm-up", warmup, args.concurrency, progress=False)
    before = await server_gauges(client)
    log = SoakLog(start=time.perf_counter())
    bodies = itertools.cycle(pool)
    deadline = log.start + args.duration
    workers = (worker(client, bodies, log, deadline) for _ in range(args.concurrency))
    await asyncio.gather(sampler(client, log, args), *workers)
    wall = time.perf_counter() - log.start
    return soak_report(args, log, wall, before, await server_gauges(client))


def soak_report(
    args: argparse.Namespace,
    log: SoakLog,
    wall: float,
    before: dict[str, float],
    after: dict[str, float],
) -> dict[str, Any]:
    """The JSON report: totals, latencies, the server's gauges before and after, the windows."""
    rss_start, rss_end = before.get(RSS), after.get(RSS)
    growth = None if rss_start is None or rss_end is None else (rss_end - rss_start) / 2**20
    count = len(log.samples) + len(log.errors)
    cpu_start, cpu_end = before.get(CPU), after.get(CPU)
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
        "errors": len(log.errors),
        "error_kinds": dict(Counter(kind for _, kind in log.errors)),
        "throughput_rps": count / wall if wall > 0 else 0.0,
        **latency_summary([ms for _, ms in log.samples]),
        "server_cpu_ms_per_request": cpu_per_request,
        "rss_start_mib": mib(rss_start),
        "rss_end_mib": mib(rss_end),
        "rss_growth_mib": growth,
        "max_rss_growth_mib": args.max_rss_growth_mib,
        "open_fds_start": before.get(FDS),
        "open_fds_end": after.get(FDS),
        "windows": [asdict(window) for window in log.windows],
        "passed": not log.errors and (growth is None or growth <= args.max_rss_growth_mib),
    }


def render_soak(report: dict[str, Any]) -> str:
    """The printed report: one row per window, then the totals and the verdict."""

    def shown(value: float | None) -> str:
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
            f"{window['p99_ms']:>9.2f}{shown(window['rss_mib']):>9}{fds:>6}"
        )
    lines.append(
        f"requests {report['requests']}, errors {report['errors']}"
        + (f" {report['error_kinds']}" if report["error_kinds"] else "")
        + f", {report['throughput_rps']:.0f} req/s; latency ms: mean {report['mean_ms']:.2f}, "
        f"p50 {report['p50_ms']:.2f}, p95 {report['p95_ms']:.2f}, p99 {report['p99_ms']:.2f}"
    )
    lines.append(
        f"server RSS {shown(report['rss_start_mib'])} MiB after warm-up -> "
        f"{shown(report['rss_end_mib'])} MiB at end (growth {shown(report['rss_growth_mib'])} "
        f"MiB, limit {report['max_rss_growth_mib']:g}); open fds {report['open_fds_start']} -> "
        f"{report['open_fds_end']}"
    )
    lines.append("soak " + ("PASSED" if report["passed"] else "FAILED"))
    return "\n".join(lines)
