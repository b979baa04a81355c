"""The reference scorers (``training.baselines``): the generator's own formula, the Bayes-optimal
probability it implies, and the Reddit and Hacker News heuristics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from training import baselines


def test_generator_log_odds_is_the_generator_formula() -> None:
    post = {
        "score": np.array([2000.0]),
        "post_age_hours": np.array([10.0]),
        "upvote_ratio": np.array([0.5]),
        "num_comments": np.array([100.0]),
    }
    expected = 0.03 * 2000 / 1000 - 0.05 * 10 + 1.2 * 0.5 + 0.002 * 100
    assert baselines.generator_log_odds(post)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("log_odds", [-4.0, -0.5, 0.0, 1.3, 5.0])
def test_bayes_probability_integrates_the_noise_inside_the_sigmoid(log_odds: float) -> None:
    """Gauss-Hermite against adaptive quadrature of E[sigmoid(f + e)], e ~ N(0, 0.8)."""
    sd = baselines.GENERATOR_NOISE_SD

    def integrand(e: float) -> float:
        density = np.exp(-0.5 * (e / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        return float(density / (1.0 + np.exp(-(log_odds + e))))

    exact, _ = integrate.quad(integrand, -12 * sd, 12 * sd, epsabs=1e-13)
    # a post whose generator log-odds is exactly ``log_odds``: all of it from upvote_ratio
    post = {
        "score": np.zeros(1),
        "post_age_hours": np.zeros(1),
        "upvote_ratio": np.array([log_odds / 1.2]),
        "num_comments": np.zeros(1),
    }
    assert baselines.bayes_optimal_probability(post)[0] == pytest.approx(exact, abs=1e-9)


def test_heuristics_rank_fresher_and_higher_scored_posts_first() -> None:
    posts = {
        "score": np.array([100.0, 100.0, 1000.0]),
        "post_age_hours": np.array([1.0, 10.0, 10.0]),
    }
    for scorer in (baselines.reddit_hot_score, baselines.hacker_news_score):
        fresh, old, old_popular = scorer(posts)
        assert fresh > old
        assert old_popular > old
