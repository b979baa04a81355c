"""A/B test sizing for a ranking change: ``python -m training.experiment_design``.

Prints users needed per arm to detect a relative lift in the engagement rate with a two-sided
two-proportion z-test, for this dataset's base rate, using statsmodels' power analysis.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Final

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

ROOT: Final = Path(__file__).resolve().parent.parent
RELATIVE_LIFTS: Final = (0.02, 0.01, 0.005, 0.002)
ALPHA: Final = 0.05
POWER: Final = 0.8

log = logging.getLogger("feedrank.experiment_design")


def users_per_arm(base_rate: float, relative_lift: float, alpha: float, power: float) -> int:
    """Sample size per arm for a two-sided test of base_rate vs base_rate * (1 + lift)."""
    effect = proportion_effectsize(base_rate * (1.0 + relative_lift), base_rate)
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return int(-(-float(n) // 1))


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
