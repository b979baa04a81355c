"""The latency summary and the phase table ``benchmark.py`` prints (``benchmarks.tables``)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from benchmarks.tables import latency_summary, render


def test_latency_summary_is_the_mean_and_inclusive_percentiles() -> None:
    latencies = [float(ms) for ms in range(1, 101)]  # 1..100 ms
    summary = latency_summary(latencies)
    assert summary["mean_ms"] == pytest.approx(50.5, abs=1e-12)
    # inclusive percentiles of 1..100: the k-th cut is 1 + 0.99 k
    assert summary["p50_ms"] == pytest.approx(50.5, abs=1e-12)
    assert summary["p95_ms"] == pytest.approx(95.05, abs=1e-12)
    assert summary["p99_ms"] == pytest.approx(99.01, abs=1e-12)
    assert summary["p99_ms"] == pytest.approx(
        statistics.quantiles(latencies, n=100, method="inclusive")[98], abs=1e-12
    )


@pytest.mark.parametrize(("latencies", "value"), [([], 0.0), ([7.5], 7.5)])
def test_fewer_than_two_latencies_give_that_value_everywhere(
    latencies: list[float], value: float
) -> None:
    assert latency_summary(latencies) == dict.fromkeys(
        ("mean_ms", "p50_ms", "p95_ms", "p99_ms"), value
    )


def _phase(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name, "count": 200, "errors": 0, "error_kinds": {}, "throughput_rps": 812.4,
        "mean_ms": 4.5, "p50_ms": 4.0, "p95_ms": 8.25, "p99_ms": 11.0,
        "server_p50_ms": None, "server_p95_ms": None, "server_p99_ms": None,
        "server_cpu_ms_per_request": None, "client_cpu_ms_per_request": None, **changes,
    }  # fmt: skip


def _report(rank_20: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:8000", "concurrency": 4, "requests_per_phase": 200,
        "warmup_per_phase": 10, "slates": "slates sampled from posts.csv",
        "phases": {"health": _phase("health"), "rank_20": rank_20},
        "ratio_rank20_p50_over_health_p50": 1.5,
    }  # fmt: skip


def test_each_phase_is_a_row_and_its_errors_are_listed_by_kind() -> None:
    rank_20 = _phase(
        "rank_20", errors=3, error_kinds={"HTTP 422": 3}, server_p50_ms=1.0,
        server_p95_ms=2.0, server_p99_ms=3.0, server_cpu_ms_per_request=0.5,
        client_cpu_ms_per_request=1.0,
    )  # fmt: skip
    lines = render(_report(rank_20)).splitlines()
    assert "http://127.0.0.1:8000" in lines[0] and "slates sampled from posts.csv" in lines[0]
    health = next(line for line in lines if line.startswith("health"))
    # no Server-Timing on /health: its server columns are dashes
    assert (
        health.split() == ["health", "200", "0", "812", "4.50", "4.00", "8.25", "11.00"] + ["-"] * 5
    )
    rank = lines.index(next(line for line in lines if line.startswith("rank_20")))
    assert lines[rank].split()[:3] == ["rank_20", "200", "3"]
    assert lines[rank + 1].split() == ["errors:", "{'HTTP", "422':", "3}"]
    assert "median /rank (20 posts) / median /health = 1.50" in lines
    assert lines[-1].startswith("client overhead: 1.000 ms") and "2.0x the server's" in lines[-1]


def test_without_cpu_figures_there_is_no_client_overhead_line() -> None:
    rendered = render(_report(_phase("rank_20")))
    assert "client overhead" not in rendered
    assert rendered.splitlines()[-1] == "median /rank (20 posts) / median /health = 1.50"
