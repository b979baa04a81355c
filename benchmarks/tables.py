"""Latency summaries and the table ``benchmark.py`` prints for its phases (standard library)."""

from __future__ import annotations

import statistics
from typing import Any


def latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    """Mean and the 50th, 95th and 99th percentiles (empty input: zeros)."""
    if len(latencies_ms) < 2:
        value = latencies_ms[0] if latencies_ms else 0.0
        return {"mean_ms": value, "p50_ms": value, "p95_ms": value, "p99_ms": value}
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {
        "mean_ms": statistics.fmean(latencies_ms),
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"feedrank benchmark: {report['url']}  concurrency={report['concurrency']}  "
        f"requests/phase={report['requests_per_phase']}  (warm-up {report['warmup_per_phase']} "
        f"per phase, excluded); {report['slates']}",
        f"{'':<11}{'':>7}{'':>7}{'':>9}{'round trip (client)':^36}{'server (Server-Timing)':^27}"
        f"{'CPU per request':^18}",
        f"{'phase':<11}{'count':>7}{'errors':>7}{'req/s':>9}{'mean':>9}{'p50':>9}{'p95':>9}"
        f"{'p99':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'server':>9}{'client':>9}   (ms)",
    ]

    def ms(value: float | None) -> str:
        return f"{value:>9.3f}" if value is not None else f"{'-':>9}"

    for phase in report["phases"].values():
        lines.append(
            f"{phase['name']:<11}{phase['count']:>7}{phase['errors']:>7}"
            f"{phase['throughput_rps']:>9.0f}{phase['mean_ms']:>9.2f}{phase['p50_ms']:>9.2f}"
            f"{phase['p95_ms']:>9.2f}{phase['p99_ms']:>9.2f}"
            + "".join(ms(phase[key]) for key in ("server_p50_ms", "server_p95_ms", "server_p99_ms"))
            + ms(phase["server_cpu_ms_per_request"])
            + ms(phase["client_cpu_ms_per_request"])
        )
        if phase["error_kinds"]:
            lines.append(f"{'':<11}errors: {phase['error_kinds']}")
    ratio = report["ratio_rank20_p50_over_health_p50"]
    lines.append(f"median /rank (20 posts) / median /health = {ratio:.2f}")
    rank = report["phases"]["rank_20"]
    client, server = rank["client_cpu_ms_per_request"], rank["server_cpu_ms_per_request"]
    if client is not None and server:
        lines.append(
            f"client overhead: {client:.3f} ms of this client's CPU per /rank request, "
            f"{client / server:.1f}x the server's; for throughput figures use --wrk"
        )
    return "\n".join(lines)
