"""Unit tests for ranking and calibration metrics, checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, ndcg_score, roc_auc_score
from sklearn.metrics import log_loss as sklearn_log_loss

from training import metrics


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_ndcg_matches_scikit_learn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    relevance = rng.integers(0, 2, size=(50, 20)).astype(np.float64)
    relevance[0] = 0.0  # a slate with no relevant post
    relevance[1] = rng.integers(0, 4, size=20)  # graded relevance
    scores = rng.normal(size=(50, 20))
    ours = metrics.ndcg_per_slate(relevance, scores, k)
    theirs = [ndcg_score(relevance[[i]], scores[[i]], k=k) for i in range(50)]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_ndcg_perfect_and_reversed_orders() -> None:
    relevance = np.array([[1.0, 1.0, 0.0, 0.0]])
    assert metrics.ndcg_per_slate(relevance, np.array([[4.0, 3.0, 2.0, 1.0]]))[0] == 1.0
    assert metrics.ndcg_per_slate(relevance, np.array([[1.0, 2.0, 3.0, 4.0]]))[0] < 0.65


def test_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=2000)
    scores = np.round(rng.normal(size=2000) + y, 1)  # many ties
    assert metrics.auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_weighted_auc_equals_auc_of_repeated_rows() -> None:
    rng = np.random.default_rng(1)
    y, scores = rng.integers(0, 2, size=300), rng.normal(size=300)
    counts = rng.integers(0, 4, size=300)
    repeated = np.repeat(np.arange(300), counts)
    expected = roc_auc_score(y[repeated], scores[repeated])
    assert metrics.weighted_auc(y, scores, counts[None, :])[0] == pytest.approx(expected)


def test_bootstrap_weights_are_resamples() -> None:
    weights = metrics.bootstrap_weights(100, draws=30, seed=0)
    assert weights.shape == (30, 100)
    np.testing.assert_array_equal(weights.sum(axis=1), 100)
    assert not np.array_equal(weights[0], weights[1])


def test_probability_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))
    assert metrics.log_loss(y, p) == pytest.approx(sklearn_log_loss(y, p))


def test_ece_is_small_when_calibrated_and_large_when_not() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert metrics.ece(y, p) < 0.005
    assert metrics.ece(y, np.clip(p + 0.2, 0, 1)) > 0.1
    bins = metrics.reliability(y, p)
    assert bins.counts.sum() == p.size


def test_slates_partition_rows() -> None:
    slates = metrics.make_slates(105, 20, seed=0)
    assert slates.shape == (5, 20)
    assert len(np.unique(slates)) == 100
    groups = np.array(["a"] * 45 + ["b"] * 25)
    by_group = metrics.group_slates(groups, 20, seed=0)
    assert by_group["a"].shape == (2, 20) and by_group["b"].shape == (1, 20)
    assert set(groups[by_group["b"].ravel()]) == {"b"}


def test_percentile_interval_brackets_the_draws() -> None:
    interval = metrics.percentile_interval(0.5, np.linspace(0, 1, 1001))
    assert interval.low == pytest.approx(0.025) and interval.high == pytest.approx(0.975)
