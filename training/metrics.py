"""Ranking and classification metrics, query groups (slates) and bootstrap intervals.

Query groups: a feed request ranks a handful of candidates, so NDCG is computed per slate of
``SLATE_SIZE`` posts (the most ``POST /rank`` serves) and averaged over slates. Slates are
either random draws from the evaluation split or drawn within one subreddit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SLATE_SIZE = 20
NDCG_K = 10
ECE_BINS = 10


def make_slates(n_items: int, slate_size: int, seed: int) -> np.ndarray:
    """Partitions ``n_items`` shuffled row indices into slates of ``slate_size``.

    Returns an (n_slates, slate_size) index matrix; the remainder that does not fill a slate
    is dropped, so every slate has the size ``/rank`` serves.
    """
    order = np.random.default_rng(seed).permutation(n_items)
    n_slates = n_items // slate_size
    return order[: n_slates * slate_size].reshape(n_slates, slate_size)


def group_slates(groups: np.ndarray, slate_size: int, seed: int) -> dict[str, np.ndarray]:
    """Slates drawn within each group (e.g. subreddit): ``{group: index matrix}``."""
    out: dict[str, np.ndarray] = {}
    for offset, group in enumerate(np.unique(groups)):
        members = np.flatnonzero(groups == group)
        local = make_slates(len(members), slate_size, seed + offset)
        out[str(group)] = members[local]
    return out


def ndcg_per_slate(relevance: np.ndarray, scores: np.ndarray, k: int = NDCG_K) -> np.ndarray:
    """NDCG@k of each row of (n_slates, slate_size) relevance and score matrices.

    Gains are linear in relevance with log2 discounts, as in scikit-learn's ``ndcg_score``.
    Ties in score keep input order (a stable sort); a slate with no relevant post scores 0.
    """
    k = min(k, relevance.shape[1])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    dcg = (np.take_along_axis(relevance, ranked, axis=1) * discounts).sum(axis=1)
    ideal = (-np.sort(-relevance, axis=1)[:, :k] * discounts).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg, dtype=np.float64), where=ideal > 0)


def slate_ndcg(
    y: np.ndarray, scores: np.ndarray, slates: np.ndarray, k: int = NDCG_K
) -> np.ndarray:
    """Per-slate NDCG@k for labels and scores indexed by a slate matrix."""
    return ndcg_per_slate(y[slates].astype(np.float64), scores[slates], k)


def weighted_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC-ROC under each row of a (n_draws, n) matrix of row weights; ties count one half.

    With multinomial bootstrap counts as weights this is the bootstrap distribution of the
    AUC, computed for all draws at once from a single sort.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    positive = y[order].astype(bool)
    w = np.atleast_2d(weights)[:, order].astype(np.float64)
    w_pos = np.where(positive, w, 0.0)
    w_neg = w - w_pos
    # tie groups: equal scores share the negatives below them plus half of their own
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    neg_in_group = np.add.reduceat(w_neg, starts, axis=1)
    pos_in_group = np.add.reduceat(w_pos, starts, axis=1)
    neg_below = np.cumsum(neg_in_group, axis=1) - neg_in_group
    wins = (pos_in_group * (neg_below + 0.5 * neg_in_group)).sum(axis=1)
    total = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    result: np.ndarray = wins / total
    return result


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUC-ROC (Mann-Whitney, ties count one half)."""
    return float(weighted_auc(y, scores, np.ones(len(y)))[0])


def brier(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared error of probabilities against 0/1 labels."""
    return float(np.mean((probabilities - y) ** 2))


def log_loss(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary cross-entropy, probabilities clipped away from 0 and 1."""
    p = np.clip(probabilities, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width probability bins: mean prediction, observed rate and count per bin."""

    mean_predicted: np.ndarray
    observed_rate: np.ndarray
    counts: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted |observed - predicted| over bins."""
        filled = self.counts > 0
        gaps = np.abs(self.observed_rate[filled] - self.mean_predicted[filled])
        return float(np.sum(gaps * self.counts[filled]) / self.counts.sum())


def reliability(y: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    """Bins predictions into ``bins`` equal-width intervals of [0, 1]."""
    index = np.clip((probabilities * bins).astype(int), 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    sums = np.bincount(index, weights=probabilities, minlength=bins)
    hits = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ReliabilityBins(sums / counts, hits / counts, counts)


def ece(y: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width bins."""
    return reliability(y, probabilities, bins).ece


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def percentile_interval(value: float, draws: np.ndarray, level: float = 0.95) -> Interval:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return Interval(value, float(low), float(high))


def bootstrap_weights(n: int, draws: int, seed: int) -> np.ndarray:
    """Multinomial resampling counts, (draws, n): one bootstrap resample per row."""
    picks = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    flat = (picks + np.arange(draws)[:, None] * n).ravel()
    return np.bincount(flat, minlength=draws * n).reshape(draws, n).astype(np.float64)
