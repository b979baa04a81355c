"""Reference scorers that need no training: two classic feed heuristics and the Bayes ceiling."""

from __future__ import annotations

from typing import Final

import numpy as np

from features.schema import Posts
from features.transforms import hacker_news_gravity, reddit_hot

# The generator's log-odds: 0.03 score/1000 - 0.05 age + 1.2 upvote_ratio + 0.002 comments + e,
# with e ~ Normal(0, 0.8). Known only because the data is synthetic; never deployable.
GENERATOR_WEIGHTS: Final = {
    "score": 0.03 / 1000,
    "post_age_hours": -0.05,
    "upvote_ratio": 1.2,
    "num_comments": 0.002,
}
GENERATOR_NOISE_SD: Final = 0.8
_QUADRATURE_NODES: Final = 64


def generator_log_odds(posts: Posts) -> np.ndarray:
    """The deterministic part of the generator's log-odds."""
    return sum(
        (weight * posts[column] for column, weight in GENERATOR_WEIGHTS.items()),
        start=np.zeros(len(posts["score"])),
    )


def bayes_optimal_probability(posts: Posts) -> np.ndarray:
    """P(engaged | x) = E_e[sigmoid(f(x) + e)], integrated by Gauss-Hermite quadrature.

    The noise sits inside the sigmoid, so the Bayes probability is a flattened sigmoid of f(x)
    (about sigmoid(f / sqrt(1 + pi * 0.8**2 / 8))): ranking by f is optimal, but a model fitted
    to the labels should learn coefficients ~0.89x the generator's, not the generator's own.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(_QUADRATURE_NODES)
    weights = weights / weights.sum()
    log_odds = generator_log_odds(posts)[:, None] + GENERATOR_NOISE_SD * nodes[None, :]
    result: np.ndarray = (1.0 / (1.0 + np.exp(-log_odds))) @ weights
    return result


def reddit_hot_score(posts: Posts) -> np.ndarray:
    """Reddit's "hot" ordering (log10 score, 12.5 h per order of magnitude)."""
    return reddit_hot(posts["score"], posts["post_age_hours"])


def hacker_news_score(posts: Posts) -> np.ndarray:
    """Hacker News gravity ordering, (score - 1) / (age + 2) ** 1.8."""
    return hacker_news_gravity(posts["score"], posts["post_age_hours"])
