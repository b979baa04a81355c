"""The arithmetic of ``benchmarks.stack``: deploy/haproxy.cfg's limits, quantiles from the
replicas' histograms, and the concurrency bound the budget allows."""

from __future__ import annotations

import pytest

from benchmarks.stack import INF, concurrency_bound, limits, quantile


def test_the_limits_are_read_from_the_proxy_config_in_seconds_and_bytes() -> None:
    found = limits()
    assert found["timeout_queue"] == pytest.approx(0.015)
    assert found["request_timeout"] == found["body_timeout"] == 10.0
    assert found["max_head_bytes"] == found["bufsize"] - found["maxrewrite"]
    assert isinstance(found["maxconn_per_replica"], int)


def test_quantiles_come_from_the_counts_recorded_between_two_readings() -> None:
    before = [{0.001: 10.0, 0.01: 10.0, INF: 10.0}, {}]
    # 100 new requests in all: 90 within 1 ms, 9 more within 10 ms, 1 beyond
    after = [{0.001: 60.0, 0.01: 65.0, INF: 66.0}, {0.001: 40.0, 0.01: 44.0, INF: 44.0}]
    p50, p99 = quantile(before, after, 0.50), quantile(before, after, 0.99)
    assert (p50["bucket_ms"], p50["requests"]) == (1.0, 100)
    assert p50["estimate_ms"] == pytest.approx(1.0 * 50 / 90)
    assert p99["bucket_ms"] == 10.0
    assert p99["estimate_ms"] == pytest.approx(1.0 + 9.0 * (99 - 90) / 9)
    assert quantile(after, after, 0.99)["bucket_ms"] is None  # nothing recorded in between


@pytest.mark.parametrize(
    ("mean_ms", "p99_ms", "bound"),
    [(1.0, 5.0, 11), (0.5, 2.5, 26), (2.0, 15.0, 1), (2.0, 25.0, None), (None, 5.0, None)],
)
def test_the_concurrency_bound_keeps_the_last_request_within_the_budget(
    mean_ms: float | None, p99_ms: float, bound: int | None
) -> None:
    cost = {"mean_ms": mean_ms, "p99": {"bucket_ms": p99_ms}}
    assert concurrency_bound(15.0, cost) == bound
