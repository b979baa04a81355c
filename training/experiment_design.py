"""A/B test sizing for a ranking change: ``python -m training.experiment_design``.

Prints users needed per arm to detect a relative lift in the engagement rate, for this
dataset's base rate. The unit of randomisation is the user, and one user's impressions are
not independent trials, so the test is sized with the variance of the user-level ratio metric
(engaged impressions over impressions, delta method), not with a per-impression Bernoulli rate.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from statsmodels.stats.power import NormalIndPower

ROOT: Final = Path(__file__).resolve().parent.parent
RELATIVE_LIFTS: Final = (0.02, 0.01, 0.005, 0.002)
ALPHA: Final = 0.05
POWER: Final = 0.8

log = logging.getLogger("feedrank.experiment_design")


@dataclass(frozen=True)
class Exposure:
    """Impressions one user contributes during the test (mean and standard deviation) and the
    intra-user correlation of their engagement: assumptions to replace with the product's
    logs, since the synthetic posts carry no users."""

    mean: float = 50.0
    sd: float = 50.0
    icc: float = 0.05


EXPOSURE: Final = Exposure()
ONE_TRIAL: Final = Exposure(mean=1.0, sd=0.0, icc=0.0)  # a binary outcome per user


def user_variance(base_rate: float, exposure: Exposure) -> float:
    """Per-user variance of the ratio metric by the delta method: with K impressions per user,
    Var(Y - pK) / E[K]^2 = p(1-p) / E[K] * (1 + icc * (E[K^2] / E[K] - 1))."""
    size_weighted_mean = (exposure.sd**2 + exposure.mean**2) / exposure.mean
    design_effect = 1.0 + exposure.icc * (size_weighted_mean - 1.0)
    return base_rate * (1.0 - base_rate) * design_effect / exposure.mean


def users_per_arm(
    base_rate: float,
    relative_lift: float,
    alpha: float,
    power: float,
    exposure: Exposure = EXPOSURE,
) -> int:
    """Users per arm for a two-sided test of base_rate vs base_rate * (1 + lift)."""
    effect = base_rate * relative_lift / math.sqrt(user_variance(base_rate, exposure))
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--metrics", type=Path, default=ROOT / "reports" / "metrics" / "training.json"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = json.loads(args.metrics.read_text())
    split = summary["split"]
    base_rate = float(summary["base_rate"])
    log.info(
        "base engagement rate %.4f (%d posts); alpha %.2f two-sided, power %.2f",
        base_rate,
        sum(split.values()),
        ALPHA,
        POWER,
    )
    log.info(
        "per user: %g impressions on average (sd %g), intra-user correlation %g",
        EXPOSURE.mean,
        EXPOSURE.sd,
        EXPOSURE.icc,
    )
    log.info("| relative lift | absolute lift (pp) | users per arm | users, 50/50 test |")
    log.info("|---:|---:|---:|---:|")
    for lift in RELATIVE_LIFTS:
        n = users_per_arm(base_rate, lift, ALPHA, POWER)
        log.info(
            "| %.1f%% | %.2f | %s | %s |",
            lift * 100,
            base_rate * lift * 100,
            f"{n:,}",
            f"{2 * n:,}",
        )


if __name__ == "__main__":
    main()
