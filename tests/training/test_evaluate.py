"""Paired bootstrap and slate-partition averaging (``training.evaluate``), and the metric tables
of the Bayes-optimal scores on a slice of the canonical data."""

from __future__ import annotations

import numpy as np
import pytest

from features.schema import CATEGORY_COLUMN
from training import baselines, evaluate, metrics

SEED = 0


def _labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, size=n)
    return (rng.uniform(size=n) < p).astype(int), p


def test_identical_models_differ_by_exactly_zero() -> None:
    y, p = _labels(2000, 0)
    probabilities = {"reference": p, "copy": p.copy()}
    paired = evaluate.paired_differences(y, probabilities, "reference", draws=200, seed=1)
    for metric in ("auc", "ndcg_at_10", "brier", "log_loss"):
        assert paired["copy"][metric] == {"value": 0.0, "low": 0.0, "high": 0.0}, metric
    partitions = evaluate.partition_ndcg(y, probabilities, "reference", 20, draws=50, seed=1)
    assert partitions["copy"]["difference"] == 0.0
    assert partitions["copy"]["difference_low"] == partitions["copy"]["difference_high"] == 0.0
    assert partitions["copy"]["mean"] == partitions["reference"]["mean"]


def test_a_known_brier_shift_is_recovered() -> None:
    """Calibrated p against p + 0.1: the Brier difference is 0.01 + 0.2 E[p - y] ~ 0.01.

    Tolerance: the bootstrap interval must contain 0.01 and be narrower than 0.004 at n = 20k.
    """
    y, p = _labels(20_000, 2)
    shifted = p + 0.1  # above 1 for some rows: harmless for Brier, and no ties are created
    expected = float(np.mean((shifted - p) ** 2))  # E[(s - y)^2 - (p - y)^2 | p] for calibrated p
    paired = evaluate.paired_differences(y, {"p": p, "s": shifted}, "p", draws=300, seed=3)
    brier = paired["s"]["brier"]
    assert brier["low"] <= expected <= brier["high"]
    assert brier["high"] - brier["low"] < 0.004
    # a strictly increasing shift keeps the order: AUC and NDCG differences are exactly zero
    assert paired["s"]["auc"]["value"] == pytest.approx(0.0, abs=1e-12)


def test_pairing_is_narrower_than_separate_intervals() -> None:
    """Two strong, highly correlated scorers: the paired interval is far tighter than either
    model's own interval, which is the point of pairing."""
    y, p = _labels(5000, 4)
    rng = np.random.default_rng(5)
    close = p + rng.normal(0.0, 0.01, size=p.size)
    probabilities = {"p": p, "close": close}
    paired = evaluate.paired_differences(y, probabilities, "p", draws=300, seed=6)
    table = evaluate.metric_table(y, probabilities, draws=300, seed=6)
    paired_width = paired["close"]["auc"]["high"] - paired["close"]["auc"]["low"]
    separate_width = table["close"]["auc"]["high"] - table["close"]["auc"]["low"]
    assert paired_width < separate_width / 5


def test_paired_ndcg_uses_the_metric_tables_slates() -> None:
    y, p = _labels(1000, 7)
    other = np.random.default_rng(8).uniform(size=p.size)
    probabilities = {"p": p, "other": other}
    paired = evaluate.paired_differences(y, probabilities, "p", draws=50, seed=9)
    table = evaluate.metric_table(y, probabilities, draws=50, seed=9)
    expected = table["other"]["ndcg_at_10"]["value"] - table["p"]["ndcg_at_10"]["value"]
    assert paired["other"]["ndcg_at_10"]["value"] == pytest.approx(expected, abs=1e-12)


def test_partition_mean_is_the_mean_over_random_partitions() -> None:
    y, p = _labels(400, 10)
    result = evaluate.partition_ndcg(y, {"p": p}, "p", partitions=30, draws=10, seed=11)
    rng = np.random.default_rng(11)
    size = metrics.SLATE_SIZE
    means = []
    for _ in range(30):
        slates = rng.permutation(len(y))[: len(y) // size * size].reshape(-1, size)
        means.append(metrics.slate_ndcg(y, p, slates).mean())
    assert result["p"]["mean"] == pytest.approx(float(np.mean(means)), abs=1e-12)
    assert result["p"]["partition_sd"] == pytest.approx(float(np.std(means, ddof=1)), abs=1e-12)
    assert result["p"]["partition_sd"] > 0  # partitions differ, so NDCG does too


def test_metric_table_uses_the_same_draws_for_every_model(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    posts, y = canonical_slice
    bayes = baselines.bayes_optimal_probability(posts)
    table = evaluate.metric_table(y, {"a": bayes, "b": bayes.copy()}, draws=200, seed=SEED)
    assert table["a"] == table["b"]
    for name in ("auc", "ndcg_at_10", "brier", "log_loss"):
        row = table["a"][name]
        assert row["low"] <= row["value"] <= row["high"], (name, row)


def test_gap_to_itself_is_exactly_zero(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    posts, y = canonical_slice
    bayes = baselines.bayes_optimal_probability(posts)
    gap = evaluate.gap_to_reference(y, bayes, bayes, draws=200, seed=SEED)
    for name in ("auc_gap", "brier_gap"):
        assert gap[name]["value"] == 0.0
        assert gap[name]["low"] == gap[name]["high"] == 0.0


def test_gap_to_a_worse_model_is_positive(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    posts, y = canonical_slice
    bayes = baselines.bayes_optimal_probability(posts)
    noisy = np.clip(bayes + np.random.default_rng(SEED).normal(0, 0.15, len(bayes)), 0.01, 0.99)
    gap = evaluate.gap_to_reference(y, noisy, bayes, draws=200, seed=SEED)
    assert gap["auc_gap"]["low"] > 0
    assert gap["brier_gap"]["low"] > 0


def test_per_group_ndcg_covers_every_subreddit(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    posts, y = canonical_slice
    bayes = baselines.bayes_optimal_probability(posts)
    table = evaluate.per_group_ndcg(y, posts[CATEGORY_COLUMN], {"bayes": bayes}, SEED)
    assert set(table) == set(np.unique(posts[CATEGORY_COLUMN]))
    assert all(0.0 < row["bayes"] <= 1.0 for row in table.values())
