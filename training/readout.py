"""A/B readout: sample-ratio-mismatch check, lift with its interval, and the power behind it.

``python -m training.readout --users 50210,49790 --share 0.5 [--engaged 25730,25810]``, or
``--metrics-url http://127.0.0.1:8000`` to take the per-arm counts of a running service's
``feedrank_rank_requests_total`` (requests, a coarser unit than users: a first look only).

1. SRM: a chi-square test of the arm sizes against the configured share. p < 0.001 means the
   assignment or the logging is broken (bots in one arm, a crash that drops a variant's
   events, a redirect); the experiment's effect estimate cannot be trusted until it is found.
2. Readout (with ``--engaged``): the engagement rate per arm, the challenger's lift with a
   95% interval, a two-proportion z-test, and the minimum detectable effect of this test's
   size at 80% power, the same statsmodels power analysis ``training.experiment_design`` uses
   to size tests before they start (here the user-level outcome is one binary trial per user).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Final

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportions_ztest

SRM_ALPHA: Final = 0.001
ALPHA: Final = 0.05
POWER: Final = 0.8
ARMS: Final = ("champion", "challenger")

log = logging.getLogger("feedrank.readout")


@dataclass(frozen=True)
class Srm:
    observed: tuple[int, int]
    expected: tuple[float, float]
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def srm(champion: int, challenger: int, share: float) -> Srm:
    """Chi-square goodness of fit of the arm sizes to a ``share`` assignment."""
    total = champion + challenger
    expected = (total * (1.0 - share), total * share)
    p_value = float(stats.chisquare([champion, challenger], expected).pvalue)
    return Srm((champion, challenger), expected, p_value)


@dataclass(frozen=True)
class Readout:
    rates: tuple[float, float]
    lift: float
    lift_low: float
    lift_high: float
    p_value: float
    mde_absolute: float


def readout(users: tuple[int, int], engaged: tuple[int, int]) -> Readout:
    """Challenger minus champion engagement rate, Wald 95% interval, z-test, and the MDE."""
    n = np.asarray(users, dtype=np.float64)
    rates = np.asarray(engaged, dtype=np.float64) / n
    lift = float(rates[1] - rates[0])
    se = float(np.sqrt(np.sum(rates * (1.0 - rates) / n)))
    z = float(stats.norm.ppf(1.0 - ALPHA / 2.0))
    _, p_value = proportions_ztest(list(engaged), list(users))
    return Readout(
        (float(rates[0]), float(rates[1])),
        lift,
        lift - z * se,
        lift + z * se,
        float(p_value),
        mde(float(rates[0]), users[0], users[1]),
    )


def mde(base_rate: float, control: int, treatment: int) -> float:
    """Smallest absolute lift over ``base_rate`` these arm sizes detect at ``POWER``."""
    effect = NormalIndPower().solve_power(
        nobs1=control, alpha=ALPHA, power=POWER, ratio=treatment / control
    )
    # the effect size is in standard deviations of the per-user outcome (engaged or not)
    return float(effect) * float(np.sqrt(base_rate * (1.0 - base_rate)))


def counts_from_metrics(url: str) -> tuple[int, int]:
    """Per-arm /rank requests from a running service's /metrics."""
    text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=10).text
    counts = dict.fromkeys(ARMS, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "feedrank_rank_requests_total":
                counts[sample.labels["role"]] += sample.value
    return int(counts["champion"]), int(counts["challenger"])


def _pair(value: str) -> tuple[int, int]:
    champion, challenger = (int(part) for part in value.split(","))
    return champion, challenger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--users", type=_pair, help="champion,challenger users (from logs)")
    source.add_argument("--metrics-url", help="a running service: requests per arm")
    parser.add_argument("--share", type=float, required=True, help="FEEDRANK_CHALLENGER_SHARE")
    parser.add_argument("--engaged", type=_pair, help="champion,challenger engaged users")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
    users = args.users or counts_from_metrics(args.metrics_url)
    check = srm(users[0], users[1], args.share)
    log.info(
        "arms: champion %d, challenger %d (expected %.0f, %.0f at share %g)",
        *check.observed,
        *check.expected,
        args.share,
    )
    log.info(
        "SRM chi-square p = %.3g: %s",
        check.p_value,
        "MISMATCH, do not read the result" if check.mismatch else "no mismatch",
    )
    if check.mismatch:
        return 1
    if args.engaged is not None:
        result = readout(users, args.engaged)
        log.info("engagement rate: champion %.4f, challenger %.4f", *result.rates)
        log.info(
            "lift %+.4f (95%% CI %+.4f to %+.4f), two-proportion z-test p = %.3g",
            result.lift,
            result.lift_low,
            result.lift_high,
            result.p_value,
        )
        log.info(
            "minimum detectable lift at power %.1f, alpha %.2f: %.4f absolute (%.2f%% relative)",
            POWER,
            ALPHA,
            result.mde_absolute,
            100 * result.mde_absolute / result.rates[0],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
