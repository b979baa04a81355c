"""Drift windows (``bundle.drift``): the population stability index of a window against the
reference saved with a bundle, per input field and for the predicted score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundle import drift
from features.io import read_posts_csv
from features.schema import LABEL_COLUMN, take
from tests.support.bundles import TRAIN_ROWS


def test_psi_is_near_zero_on_training_data_and_large_when_shifted(canonical_csv: Path) -> None:
    posts = read_posts_csv(canonical_csv)
    posts.pop(LABEL_COLUMN)
    fitted = take(posts, np.arange(TRAIN_ROWS))
    scores = np.linspace(0.0, 1.0, TRAIN_ROWS)
    reference = drift.reference(fitted, scores)
    window = drift.DriftWindow(reference, 5_000)
    fresh = take(posts, np.arange(TRAIN_ROWS, TRAIN_ROWS + 5_000))  # same distribution
    window.add(fresh, np.random.default_rng(0).uniform(size=5_000))
    same = window.psi()
    assert set(same) == {
        "score", "num_comments", "upvote_ratio", "post_age_hours", "author_karma",
        "subreddit", "title", "predicted_score",
    }  # fmt: skip
    assert max(same.values()) < 0.02, same
    shifted = {
        **fresh,
        "post_age_hours": fresh["post_age_hours"] * 5,
        "subreddit": np.full(5_000, "brand_new", dtype=object),
    }
    window.add(shifted, np.random.default_rng(0).uniform(0.6, 1.0, size=5_000))
    moved = window.psi()
    for name in ("post_age_hours", "subreddit", "predicted_score"):
        assert moved[name] > 0.25, (name, moved)
    assert moved["upvote_ratio"] < 0.02
    assert window.mean_score() == pytest.approx(0.8, abs=0.01)
