"""``features/transforms.py``: time decay and the interaction formulas, against their
definitions."""

from __future__ import annotations

import numpy as np
import pytest

from features import transforms
from features.transforms import DecaySpec


def test_exponential_decay_and_half_life() -> None:
    decay = DecaySpec("exponential", np.log(2) / 16.0)
    assert decay.half_life_hours == pytest.approx(16.0)
    np.testing.assert_allclose(decay(np.array([0.0, 16.0, 32.0])), [1.0, 0.5, 0.25])


def test_power_decay_half_life_matches_curve() -> None:
    decay = DecaySpec("power", 1.8)
    ratio = decay(np.array([decay.half_life_hours]))[0] / decay(np.array([0.0]))[0]
    assert ratio == pytest.approx(0.5)


def test_interactions_follow_their_definitions() -> None:
    score, comments, age, ratio = (np.array([100.0, 0.0]), np.array([10.0, 5.0]),
                                   np.array([4.0, 0.0]), np.array([0.9, 0.5]))  # fmt: skip
    np.testing.assert_allclose(transforms.comment_velocity(comments, age), [2.0, 5.0])
    np.testing.assert_allclose(transforms.score_x_upvote_ratio(score, ratio), [90.0, 0.0])
    np.testing.assert_allclose(transforms.comments_per_point(comments, score), [10 / 101, 5.0])
    np.testing.assert_allclose(transforms.reddit_hot(np.array([10.0]), np.array([12.5])), [0.0])
    np.testing.assert_allclose(
        transforms.hacker_news_gravity(np.array([11.0]), np.array([0.0])), [10 * 2**-1.8]
    )
