"""Stateless feature transforms: pure functions of a post's own fields.

Nothing here is fitted, so nothing here can leak labels; the fitted pieces (TF-IDF, target
encoding) are applied in ``features.transform`` and fitted in ``features.fit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

DecayForm = Literal["exponential", "power"]

# Hacker News gravity: rank = (points - 1) / (age_hours + 2) ** 1.8.
HN_GRAVITY = 1.8
HN_AGE_OFFSET_HOURS = 2.0
# Reddit "hot" epoch-seconds divisor: 45000 s = 12.5 h per order of magnitude of score.
REDDIT_HOT_SECONDS = 45_000.0


@dataclass(frozen=True)
class DecaySpec:
    """A time-decay curve over post age, fitted against the label in ``training.decay``.

    ``exponential``: exp(-param * age), param a rate per hour.
    ``power``: (age + 2) ** -param, param a power-law exponent.
    """

    form: DecayForm
    param: float

    def __call__(self, age_hours: np.ndarray) -> np.ndarray:
        if self.form == "exponential":
            return np.exp(-self.param * age_hours)
        return np.power(age_hours + HN_AGE_OFFSET_HOURS, -self.param)

    @property
    def half_life_hours(self) -> float:
        """Age at which the decay weight halves (from age 0 for the power form)."""
        if self.form == "exponential":
            return float(np.log(2.0) / self.param)
        return float(HN_AGE_OFFSET_HOURS * (2.0 ** (1.0 / self.param) - 1.0))


def hn_decay(age_hours: np.ndarray) -> np.ndarray:
    """Hacker News' power-law age penalty, a fixed prior to compare the fitted decay with."""
    return np.power(age_hours + HN_AGE_OFFSET_HOURS, -HN_GRAVITY)


def comment_velocity(num_comments: np.ndarray, age_hours: np.ndarray) -> np.ndarray:
    """Comments per hour of life: a discussion that is growing fast is likely to pull people in."""
    return num_comments / (age_hours + 1.0)


def score_x_upvote_ratio(score: np.ndarray, upvote_ratio: np.ndarray) -> np.ndarray:
    """Score weighted by how uncontested it is: 1,000 points at 95% beats 1,000 at 55%."""
    return score * upvote_ratio


def decayed_score(score: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Score discounted by age, the core of every "hot" formula: old points count less."""
    return np.log1p(score) * decay


def comments_per_point(num_comments: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Discussion relative to votes: controversial or conversational posts invite replies."""
    return num_comments / (score + 1.0)


def reddit_hot(score: np.ndarray, age_hours: np.ndarray) -> np.ndarray:
    """Reddit's "hot" rank for an all-upvote post: log10 of score minus age in 12.5 h units."""
    return np.log10(np.maximum(score, 1.0)) - age_hours * 3600.0 / REDDIT_HOT_SECONDS


def hacker_news_gravity(score: np.ndarray, age_hours: np.ndarray) -> np.ndarray:
    """Hacker News ranking: points over a power of age."""
    return (score - 1.0) * hn_decay(age_hours)


def title_length(titles: np.ndarray) -> np.ndarray:
    """Words per title: longer titles carry more information (or more clickbait)."""
    return np.fromiter((len(title.split()) for title in titles), np.float64, len(titles))
