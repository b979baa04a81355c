"""``benchmark.py --wrk``: the benchmark's phases driven by wrk instead of the Python client.

The same three phases (``health``, ``rank_mixed`` with 1-20 posts, ``rank_20``) run for
``--wrk-seconds`` each at ``--concurrency`` connections; the server's CPU per request comes from
its /metrics before and after each phase. Standard library only.
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from benchmarks.payloads import MAX_POSTS, describe_source, load_posts, slate_body
from benchmarks.wrk import run_wrk, write_bodies, wrk_binary

BODIES_PER_PHASE: Final = 512
PHASES: Final = ("health", "rank_mixed", "rank_20")


def _cpu_seconds(url: str) -> float | None:
    """The server's ``process_cpu_seconds_total`` (None if /metrics does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    return None


def check_ready(url: str, timeout: float) -> None:
    """Raises ``SystemExit`` with one line unless ``url``'s /ready answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=timeout) as response:
            ready = response.status == 200
    except OSError as error:
        raise SystemExit(f"error: {url}/ready is not answering 200: {error}") from None
    if not ready:
        raise SystemExit(f"error: {url}/ready is not answering 200")


def phase_bodies(args: argparse.Namespace) -> dict[str, list[bytes]]:
    """The /rank phases' bodies: mixed slates of 1-20 posts, and slates of 20."""
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    return {
        "rank_mixed": [
            slate_body(posts, rng.randint(1, MAX_POSTS), rng) for _ in range(BODIES_PER_PHASE)
        ],
        "rank_20": [slate_body(posts, MAX_POSTS, rng) for _ in range(BODIES_PER_PHASE)],
    }


def measure_phase(args: argparse.Namespace, name: str, bodies: Path | None) -> dict[str, Any]:
    """One phase under wrk, with the server's CPU per request from /metrics around it."""
    path = "/health" if name == "health" else "/rank"
    cpu_start = _cpu_seconds(args.url)
    result = run_wrk(
        f"{args.url}{path}", args.concurrency, args.wrk_seconds, bodies, timeout_s=args.timeout
    )
    cpu_end = _cpu_seconds(args.url)
    cpu = None
    if cpu_start is not None and cpu_end is not None and result.requests:
        cpu = (cpu_end - cpu_start) * 1e3 / result.requests
    return {
        "name": name,
        "count": result.requests,
        **asdict(result),
        "server_cpu_ms_per_request": cpu,
    }


def wrk_benchmark(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Runs the phases with wrk; returns the report and its printed table.

    Raises:
        benchmarks.wrk.WrkError: wrk is missing or fails.
        SystemExit: The server's /ready does not answer 200.
    """
    wrk_binary()
    check_ready(args.url, args.timeout)
    with tempfile.TemporaryDirectory(prefix="feedrank-wrk-") as scratch:
        files = {
            name: write_bodies(Path(scratch) / f"{name}.jsonl", bodies)
            for name, bodies in phase_bodies(args).items()
        }
        run_wrk(f"{args.url}/rank", args.concurrency, 1, files["rank_20"])  # warm-up
        phases = {name: measure_phase(args, name, files.get(name)) for name in PHASES}
    health, rank_20 = phases["health"]["p50_ms"], phases["rank_20"]["p50_ms"]
    report = {
        "mode": "wrk",
        "url": args.url,
        "concurrency": args.concurrency,
        "seconds_per_phase": args.wrk_seconds,
        "slates": describe_source(args.data),
        "client": {"wrk": True, "python": platform.python_version()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "phases": phases,
        "ratio_rank20_p50_over_health_p50": rank_20 / health if health > 0 else float("inf"),
    }
    return report, render(report)


def render(report: dict[str, Any]) -> str:
    lines = [
        f"feedrank benchmark (wrk): {report['url']}  concurrency={report['concurrency']}  "
        f"{report['seconds_per_phase']:g} s per phase; {report['slates']}",
        f"{'phase':<11}{'count':>8}{'errors':>7}{'req/s':>9}{'mean':>9}{'p50':>9}{'p95':>9}"
        f"{'p99':>9}{'server CPU/req':>16}   (ms)",
    ]
    for phase in report["phases"].values():
        cpu = phase["server_cpu_ms_per_request"]
        lines.append(
            f"{phase['name']:<11}{phase['count']:>8}{phase['errors']:>7}"
            f"{phase['throughput_rps']:>9.0f}{phase['mean_ms']:>9.3f}{phase['p50_ms']:>9.3f}"
            f"{phase['p95_ms']:>9.3f}{phase['p99_ms']:>9.3f}"
            f"{(f'{cpu:.3f}' if cpu is not None else '-'):>16}"
        )
    lines.append(
        f"median /rank (20 posts) / median /health = "
        f"{report['ratio_rank20_p50_over_health_p50']:.2f} (wrk latencies)"
    )
    return "\n".join(lines)
