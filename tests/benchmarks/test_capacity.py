"""``benchmarks/capacity.py``: the plan's arithmetic on a hand-made measurement, and the
staleness table's conversion from log-odds to hours of age."""

from __future__ import annotations

import math

import pytest

from benchmarks.capacity import plan, staleness

PERF = {
    "rows": [
        {"concurrency": 1, "rank": {"cpu_ms_per_request": 9.0}},
        {"concurrency": 32, "rank": {"cpu_ms_per_request": 0.4}},
    ]
}
STACK = {
    "overload": {"wrk": {"shed_share": 0.5}, "replicas_p99": {"estimate_ms": 12.0}},
    "failover": {"wrk": {"shed_share": 0.2}},
}


def test_the_plan_scales_the_measured_call_to_the_peak_with_headroom() -> None:
    result = plan(PERF, STACK)
    calls = 35_000 * 500 / 20
    assert result["cpu_ms_per_call"] == 0.4, "the call is costed at c=32, not c=1"
    assert result["calls_per_s"] == pytest.approx(calls, rel=1e-12)
    assert result["busy_cores"] == pytest.approx(calls * 0.4e-3, rel=1e-12)
    assert result["cores_at_utilisation"] == pytest.approx(calls * 0.4e-3 / 0.6, rel=1e-12)
    assert result["cores_with_zone_loss"] == math.ceil(calls * 0.4e-3 / 0.6 * 3 / 2)
    assert (result["overload_shed_share"], result["failover_shed_share"]) == (0.5, 0.2)


def test_without_a_topology_run_its_figures_are_missing_not_invented() -> None:
    assert math.isnan(plan(PERF, None)["overload_shed_share"])


def test_staleness_converts_missed_comments_to_hours_of_age() -> None:
    decay = {"chosen": {"rate_per_hour": 0.04, "half_life_hours": math.log(2) / 0.04}}
    rows = {(r["comments_per_hour"], r["lag_s"]): r for r in staleness(decay)["rows"]}
    hour = rows[(60, 3600)]
    assert hour["log_odds"] == pytest.approx(60 * 0.002, rel=1e-12)
    assert hour["age_minutes"] == pytest.approx(60 * 0.002 / 0.04 * 60, rel=1e-12)
