"""The experiment tools: SRM and readout CLI, the interleaving simulation, notebook 06."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from tests.support import ROOT
from training import online, readout


def test_srm_flags_a_mismatch_and_passes_a_fair_split() -> None:
    assert not readout.srm(50_210, 49_790, 0.5).mismatch
    assert readout.srm(50_900, 49_100, 0.5).mismatch
    # 5% ramp: 5,000 of 100,000 expected
    assert readout.srm(95_000, 5_000, 0.05).p_value == pytest.approx(1.0, abs=1e-12)
    assert readout.srm(95_300, 4_700, 0.05).mismatch


def test_mde_matches_the_sizing_of_experiment_design() -> None:
    from training.experiment_design import ONE_TRIAL, users_per_arm

    n = users_per_arm(0.5125, 0.02, readout.ALPHA, readout.POWER, ONE_TRIAL)
    assert readout.mde(0.5125, n, n) == pytest.approx(0.5125 * 0.02, rel=1e-3)


def test_readout_cli(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="feedrank.readout")
    assert readout.main(["--users", "50900,49100", "--share", "0.5"]) == 1
    assert "MISMATCH" in caplog.text
    assert (
        readout.main(["--users", "50210,49790", "--share", "0.5", "--engaged", "25730,25810"]) == 0
    )
    assert "lift +0.0059" in caplog.text


def test_team_draft_alternates_and_keeps_each_rankers_order() -> None:
    rng = np.random.default_rng(0)
    a, b = np.arange(10), np.arange(10)[::-1]
    items, teams = online.team_draft(a, b, 6, rng)
    assert len(set(items.tolist())) == 6
    assert abs(int(np.sum(teams == 0)) - int(np.sum(teams == 1))) <= 1
    assert items[teams == 0].tolist() == sorted(items[teams == 0].tolist())
    assert items[teams == 1].tolist() == sorted(items[teams == 1].tolist(), reverse=True)


def test_identical_rankers_tie_and_a_better_one_wins() -> None:
    rng = np.random.default_rng(1)
    p_true = rng.uniform(0.05, 0.95, 2_000)
    same = online.simulate(p_true, p_true, p_true, 2_000, 20, 10, seed=2)
    # the same order on both teams: neither wins more than chance
    assert abs(same.preference.mean()) < 4 * same.preference.std() / np.sqrt(2_000)
    noisy = p_true + rng.normal(0.0, 0.3, 2_000)
    better = online.simulate(p_true, p_true, noisy, 4_000, 20, 10, seed=2)
    assert better.preference.mean() > 0.1
    assert better.clicks_a.mean() > better.clicks_b.mean()
    needed = online.interleaving_sessions_needed(better.preference)
    # the per-session variance interleaving removes: fewer sessions than an A/B test
    assert needed < online.ab_sessions_needed(better.clicks_a, better.clicks_b)
    assert online.empirical_power((better.preference,), int(needed), 300, seed=3) == (
        pytest.approx(online.POWER, abs=0.08)
    )


@pytest.mark.e2e
def test_notebook_06_writes_its_metrics_and_figure(trained_artifacts: Any, tmp_path: Path) -> None:
    import papermill

    metrics_dir, figures_dir = tmp_path / "metrics", tmp_path / "figures"
    metrics_dir.mkdir()
    shutil.copyfile(
        Path(trained_artifacts.metrics_dir) / "training.json", metrics_dir / "training.json"
    )
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "06_online_experiments.ipynb"),
        str(tmp_path / "06.ipynb"),
        parameters={
            "data_path": str(trained_artifacts.data_path),
            "model_dir": str(trained_artifacts.model_dir),
            "metrics_dir": str(metrics_dir),
            "figures_dir": str(figures_dir),
            "sessions": 10_000,
            "repetitions": 100,
        },
        kernel_name="feedrank",
        cwd=str(ROOT),
        execution_timeout=600,
        progress_bar=False,
    )
    result = json.loads((metrics_dir / "online_experiments.json").read_text())
    # the champion beats Reddit hot, and interleaving needs fewer sessions to show it
    assert (
        result["interleaving"]["champion_win_rate"] > result["interleaving"]["challenger_win_rate"]
    )
    assert (
        result["ab"]["engagements_per_session"]["champion"]
        > (result["ab"]["engagements_per_session"]["challenger"])
    )
    # a noisy estimate (see the section's standard errors), but clearly above 1 at this size
    assert result["ab_to_interleaving_ratio"] > 1.2
    assert result["srm_example"]["p_value"] > 0.001
    assert (figures_dir / result["figures"]["power"]).stat().st_size > 10_000


def test_one_binary_trial_per_user_is_the_two_proportion_formula() -> None:
    from training.experiment_design import ONE_TRIAL, users_per_arm

    p, lift = 0.5125, 0.01
    z = stats.norm.ppf(1 - readout.ALPHA / 2) + stats.norm.ppf(readout.POWER)
    expected = z**2 * 2 * p * (1 - p) / (p * lift) ** 2
    # the power solver also counts the far tail's tiny rejection probability: at most one user
    n = users_per_arm(p, lift, readout.ALPHA, readout.POWER, ONE_TRIAL)
    assert math.ceil(expected) - 1 <= n <= math.ceil(expected)


def test_user_variance_is_the_variance_of_the_pooled_rate_of_simulated_users() -> None:
    """Users with negative-binomial impression counts and beta-distributed own rates: the
    spread of the pooled engagement rate over replications is the delta-method variance."""
    from training.experiment_design import Exposure, user_variance

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
