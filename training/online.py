"""Simulated online comparison of two rankers: an A/B test versus team-draft interleaving.

A session shows the top ``shown`` of a random slate of posts; the user examines position r with
probability 1 / log2(r + 1) and engages with an examined post with its true probability (the
generator's Bayes-optimal P(engaged)). In an A/B test each session sees one ranker and the
metric is engagements per session, compared between arms. In team-draft interleaving
(Radlinski, Kurup and Joachims, 2008) every session sees one list drafted from both rankers,
and the session's winner is the ranker whose picks got more engagements. Interleaving compares
the two rankers on the same user and slate, which removes the between-session variance an A/B
test has to average away; ``sessions_needed`` turns each design's per-session mean and
variance into the sessions a 5%-level, 80%-power test needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import stats

ALPHA: Final = 0.05
POWER: Final = 0.8


@dataclass(frozen=True)
class Sessions:
    """Per-session outcomes of both designs on the same simulated sessions."""

    clicks_a: np.ndarray  # A/B arm A: engagements in a session ranked by A
    clicks_b: np.ndarray  # A/B arm B: an independent session ranked by B
    preference: np.ndarray  # interleaving: +1 A wins, -1 B wins, 0 tie


def examination(shown: int) -> np.ndarray:
    result: np.ndarray = 1.0 / np.log2(np.arange(2, shown + 2))
    return result


def team_draft(
    order_a: np.ndarray, order_b: np.ndarray, shown: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaves two rankings of the same items; returns the items and their team (0 = A).

    Each round the team with fewer picks (a coin flip on a tie) adds its highest-ranked item
    not yet shown.
    """
    picked: list[int] = []
    teams: list[int] = []
    taken: set[int] = set()
    counts = [0, 0]
    orders = (order_a.tolist(), order_b.tolist())
    cursors = [0, 0]
    while len(picked) < min(shown, len(order_a)):
        team = int(rng.integers(2)) if counts[0] == counts[1] else int(counts[1] < counts[0])
        order = orders[team]
        while order[cursors[team]] in taken:
            cursors[team] += 1
        item = order[cursors[team]]
        picked.append(item)
        teams.append(team)
        taken.add(item)
        counts[team] += 1
    return np.asarray(picked), np.asarray(teams)


def simulate(
    p_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    sessions: int,
    slate_size: int,
    shown: int,
    seed: int,
) -> Sessions:
    """``sessions`` random slates of ``slate_size`` posts, each seen under both designs."""
    rng = np.random.default_rng(seed)
    exam = examination(shown)
    clicks_a = np.empty(sessions)
    clicks_b = np.empty(sessions)
    preference = np.empty(sessions)
    for session in range(sessions):
        slate = rng.choice(len(p_true), slate_size, replace=False)
        order_a = slate[np.argsort(-score_a[slate], kind="stable")]
        order_b = slate[np.argsort(-score_b[slate], kind="stable")]
        for clicks, order in ((clicks_a, order_a), (clicks_b, order_b)):
            top = order[:shown]
            clicks[session] = np.sum(rng.random(len(top)) < p_true[top] * exam[: len(top)])
        items, teams = team_draft(order_a, order_b, shown, rng)
        engaged = rng.random(len(items)) < p_true[items] * exam[: len(items)]
        preference[session] = np.sign(
            np.sum(engaged & (teams == 0)) - np.sum(engaged & (teams == 1))
        )
    return Sessions(clicks_a, clicks_b, preference)


def _z() -> float:
    return float(stats.norm.ppf(1.0 - ALPHA / 2.0) + stats.norm.ppf(POWER))


def ab_sessions_needed(clicks_a: np.ndarray, clicks_b: np.ndarray) -> float:
    """Total sessions (both arms, 50/50) for a two-sample z-test to detect the difference."""
    delta = clicks_a.mean() - clicks_b.mean()
    variance = clicks_a.var(ddof=1) + clicks_b.var(ddof=1)
    return float(2.0 * _z() ** 2 * variance / delta**2)


def interleaving_sessions_needed(preference: np.ndarray) -> float:
    """Sessions for a one-sample z-test of mean preference = 0 to detect the observed one."""
    return float(_z() ** 2 * preference.var(ddof=1) / preference.mean() ** 2)


def empirical_power(
    outcomes: tuple[np.ndarray, ...], sessions: int, repetitions: int, seed: int
) -> float:
    """Share of resampled experiments of ``sessions`` sessions that reject at ``ALPHA``.

    One array: a one-sample test of mean 0 (interleaving); two: a two-sample test of equal
    means with ``sessions`` split evenly (A/B).
    """
    rng = np.random.default_rng(seed)
    per_group = sessions // len(outcomes)
    critical = stats.norm.ppf(1.0 - ALPHA / 2.0)
    rejected = 0
    for _ in range(repetitions):  # one experiment at a time: memory stays O(sessions)
        draws = [outcome[rng.integers(0, len(outcome), per_group)] for outcome in outcomes]
        difference = draws[0].mean() - (draws[1].mean() if len(draws) == 2 else 0.0)
        variance = sum(draw.var(ddof=1) / per_group for draw in draws)
        rejected += bool(variance > 0 and abs(difference) / np.sqrt(variance) > critical)
    return rejected / repetitions
