"""The Python client's phases of ``benchmark.py``: workers sending a list of requests over one
pooled httpx client, each recording its latency, the server's ``Server-Timing`` and errors by
kind; the server's ``process_*`` gauges come from its /metrics."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import httpx
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

from benchmarks.tables import latency_summary

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


@dataclass
class Recorded:
    """What a phase's workers saw: client latencies and server times of 200s, failures by kind."""

    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


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


async def send(client: httpx.AsyncClient, call: Call, recorded: Recorded) -> None:
    """Makes one call and records its outcome."""
    start = time.perf_counter()
    try:
        if call.body is None:
            response = await client.get(call.path)
        else:
            response = await client.post(call.path, content=call.body, headers=JSON_HEADERS)
        elapsed = time.perf_counter() - start
    except httpx.HTTPError as error:
        recorded.errors[type(error).__name__] += 1
        return
    if response.status_code != 200:
        recorded.errors[f"HTTP {response.status_code}"] += 1
        return
    recorded.latencies_ms.append(elapsed * 1e3)
    timing = response.headers.get("server-timing")
    if timing:
        recorded.server_ms.append(server_total_ms(timing))


async def run_phase(
    client: httpx.AsyncClient,
    name: str,
    calls: list[Call],
    concurrency: int,
    progress: bool,
) -> PhaseResult:
    """Sends ``calls`` from ``concurrency`` workers; each records its own latencies."""
    recorded = Recorded()
    queue = iter(calls)
    bar = tqdm(total=len(calls), desc=f"{name:<10}", unit="req", disable=not progress, leave=False)

    async def worker() -> None:
        for call in queue:
            await send(client, call, recorded)
            bar.update()

    cpu_start = await server_cpu_seconds(client)
    wall_start, client_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, client_cpu = time.perf_counter() - wall_start, time.process_time() - client_start
    cpu_end = await server_cpu_seconds(client)
    bar.close()
    result = PhaseResult(name=name, count=len(calls), errors=sum(recorded.errors.values()))
    if cpu_start is not None and cpu_end is not None and calls:
        result.server_cpu_ms_per_request = (cpu_end - cpu_start) * 1e3 / len(calls)
    result.error_kinds = dict(recorded.errors)
    result.wall_seconds = wall
    result.throughput_rps = len(calls) / wall if wall > 0 else 0.0
    result.client_cpu_ms_per_request = client_cpu * 1e3 / len(calls) if calls else None
    _add_latencies(result, recorded)
    return result


def _add_latencies(result: PhaseResult, recorded: Recorded) -> None:
    if recorded.latencies_ms:
        summary = latency_summary(recorded.latencies_ms)
        result.mean_ms, result.p50_ms = summary["mean_ms"], summary["p50_ms"]
        result.p95_ms, result.p99_ms = summary["p95_ms"], summary["p99_ms"]
    if recorded.server_ms:
        summary = latency_summary(recorded.server_ms)
        result.server_p50_ms, result.server_p95_ms = summary["p50_ms"], summary["p95_ms"]
        result.server_p99_ms = summary["p99_ms"]


def server_total_ms(header: str) -> float:
    """Sums the ``dur`` of every metric in a ``Server-Timing`` header."""
    total = 0.0
    for metric in header.split(","):
        for param in metric.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key == "dur":
                total += float(value)
    return total
