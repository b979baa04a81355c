"""A/B test sizing (``training.experiment_design``): users per arm and the variance of a user's
engagement rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from training import readout
from training.experiment_design import ONE_TRIAL, Exposure, user_variance, users_per_arm


def test_one_binary_trial_per_user_is_the_two_proportion_formula() -> None:
    p, lift = 0.5125, 0.01
    z = stats.norm.ppf(1 - readout.ALPHA / 2) + stats.norm.ppf(readout.POWER)
    expected = z**2 * 2 * p * (1 - p) / (p * lift) ** 2
    # the power solver also counts the far tail's tiny rejection probability: at most one user
    n = users_per_arm(p, lift, readout.ALPHA, readout.POWER, ONE_TRIAL)
    assert math.ceil(expected) - 1 <= n <= math.ceil(expected)


def test_user_variance_is_the_variance_of_the_pooled_rate_of_simulated_users() -> None:
    """Users with negative-binomial impression counts and beta-distributed own rates: the
    spread of the pooled engagement rate over replications is the delta-method variance."""
    exposure, p, users, replications = Exposure(mean=50.0, sd=50.0, icc=0.05), 0.5125, 1_000, 2_000
    rng = np.random.default_rng(7)
    dispersion = exposure.mean**2 / (exposure.sd**2 - exposure.mean)
    impressions = rng.negative_binomial(
        dispersion, dispersion / (dispersion + exposure.mean), (replications, users)
    )
    concentration = 1 / exposure.icc - 1  # a + b of the beta, so that its ICC is exposure.icc
    rates = rng.beta(p * concentration, (1 - p) * concentration, (replications, users))
    engaged = rng.binomial(impressions, rates)
    pooled = engaged.sum(axis=1) / impressions.sum(axis=1)
    # the sample variance of 2,000 draws is within about 3.2% (one SE) of the truth
    assert pooled.var(ddof=1) == pytest.approx(user_variance(p, exposure) / users, rel=0.1)
    assert user_variance(p, Exposure(mean=50.0, sd=50.0, icc=0.0)) == pytest.approx(
        p * (1 - p) / 50
    )
