"""The capacity plan at Reddit scale, computed from what was measured here.

Inputs are the measured JSON (``perf.json``: the service's CPU per 20-post ``/rank`` call;
``stack.json``: the topology under overload and failover; ``reports/metrics/decay.json``: the
fitted age decay) and the load model below, whose every figure is a stated assumption. The
report renders the result, so the plan changes when a measurement does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

# The load model (README, "Scale"): assumptions, not measurements.
PEAK_FEED_LOADS_PER_S: Final = 35_000
CANDIDATES_PER_LOAD: Final = 500
POSTS_PER_CALL: Final = 20
# busy share of a core the plan runs at: a replica's queue, and so its p99, grows sharply
# as utilisation nears 1
UTILISATION: Final = 0.6
# zones the fleet spreads over; losing one must leave enough to carry the peak
ZONES: Final = 3
# the generator's weight of one comment on the engagement log-odds (generate_dataset.py)
COMMENT_LOG_ODDS: Final = 0.002
COMMENT_RATES_PER_HOUR: Final = (10, 60, 300)
LAGS_S: Final = (5, 300, 3600)


@dataclass(frozen=True)
class Plan:
    """Cores for the peak, from the measured CPU of one scoring call."""

    cpu_ms_per_call: float
    calls_per_s: float
    busy_cores: float
    cores_at_utilisation: float
    cores_with_zone_loss: int
    overload_shed_share: float
    overload_replica_p99_ms: float
    failover_shed_share: float


def plan(perf: dict[str, Any], stack: dict[str, Any] | None) -> dict[str, Any]:
    """The plan's figures, with the inputs they came from."""
    # the CPU a call costs with the replica kept busy: c=32 where measured, else the most loaded
    row = next((r for r in perf["rows"] if r["concurrency"] == 32), perf["rows"][-1])
    cpu_ms = float(row["rank"]["cpu_ms_per_request"])
    calls = PEAK_FEED_LOADS_PER_S * CANDIDATES_PER_LOAD / POSTS_PER_CALL
    busy = calls * cpu_ms / 1000
    at_utilisation = busy / UTILISATION
    result = Plan(
        cpu_ms_per_call=cpu_ms,
        calls_per_s=calls,
        busy_cores=busy,
        cores_at_utilisation=at_utilisation,
        cores_with_zone_loss=math.ceil(at_utilisation * ZONES / (ZONES - 1)),
        overload_shed_share=float(stack["overload"]["wrk"]["shed_share"]) if stack else math.nan,
        overload_replica_p99_ms=float(stack["overload"]["replicas_p99"]["estimate_ms"])
        if stack
        else math.nan,
        failover_shed_share=float(stack["failover"]["wrk"]["shed_share"]) if stack else math.nan,
    )
    return {
        **asdict(result),
        "concurrency": row["concurrency"],
        "inputs": {
            "peak_feed_loads_per_s": PEAK_FEED_LOADS_PER_S,
            "candidates_per_load": CANDIDATES_PER_LOAD,
            "posts_per_call": POSTS_PER_CALL,
            "utilisation": UTILISATION,
            "zones": ZONES,
        },
    }


def staleness(decay: dict[str, Any]) -> dict[str, Any]:
    """What a counter that arrives late costs a young post, in log-odds and in hours of age.

    A post gathering ``rate`` comments an hour, ranked on counters ``lag`` seconds old, misses
    ``rate * lag`` comments' weight; the fitted decay says how many hours of ageing weigh the
    same: the chosen decay, exponential on the odds, is that many log-odds an hour.
    """
    per_hour = float(decay["chosen"]["rate_per_hour"])
    rows = [
        {
            "comments_per_hour": rate,
            "lag_s": lag,
            "log_odds": rate * lag / 3600 * COMMENT_LOG_ODDS,
            "age_minutes": rate * lag / 3600 * COMMENT_LOG_ODDS / per_hour * 60,
        }
        for rate in COMMENT_RATES_PER_HOUR
        for lag in LAGS_S
    ]
    return {
        "decay_per_hour": per_hour,
        "half_life_hours": float(decay["chosen"]["half_life_hours"]),
        "comment_log_odds": COMMENT_LOG_ODDS,
        "rows": rows,
    }
