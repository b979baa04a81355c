"""The interleaving simulation (``training.online``): team-draft interleaving and the sessions an
A/B test and an interleaved test need."""

from __future__ import annotations

import numpy as np
import pytest

from training import online


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
