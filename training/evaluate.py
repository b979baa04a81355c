"""Metric tables with bootstrap intervals for a set of scorers on one evaluation split."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from training import metrics


def metric_row(
    y: np.ndarray,
    probabilities: np.ndarray,
    slates: np.ndarray,
    row_weights: np.ndarray,
    slate_weights: np.ndarray,
) -> dict[str, Any]:
    """AUC, NDCG@10, Brier, log-loss and ECE, with 95% bootstrap intervals on the first four.

    Rows and slates are resampled independently (``row_weights``, ``slate_weights`` hold the
    bootstrap counts), the same draws for every model so intervals are comparable.
    """
    n = len(y)
    squared = (probabilities - y) ** 2
    p = np.clip(probabilities, 1e-12, 1 - 1e-12)
    cross_entropy = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    per_slate = metrics.slate_ndcg(y, probabilities, slates)
    auc_value = metrics.auc(y, probabilities)
    return {
        "auc": metrics.percentile_interval(
            auc_value, metrics.weighted_auc(y, probabilities, row_weights)
        ).as_dict(),
        "ndcg_at_10": metrics.percentile_interval(
            float(per_slate.mean()), slate_weights @ per_slate / len(per_slate)
        ).as_dict(),
        "brier": metrics.percentile_interval(
            float(squared.mean()), row_weights @ squared / n
        ).as_dict(),
        "log_loss": metrics.percentile_interval(
            float(cross_entropy.mean()), row_weights @ cross_entropy / n
        ).as_dict(),
        "ece": metrics.ece(y, probabilities),
    }


def metric_table(
    y: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    draws: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """``metric_row`` for every named model on the same slates and bootstrap draws."""
    slates = metrics.make_slates(len(y), metrics.SLATE_SIZE, seed)
    row_weights = metrics.bootstrap_weights(len(y), draws, seed)
    slate_weights = metrics.bootstrap_weights(len(slates), draws, seed + 1)
    return {
        name: metric_row(y, p, slates, row_weights, slate_weights)
        for name, p in probabilities.items()
    }


def gap_to_reference(
    y: np.ndarray, model: np.ndarray, reference: np.ndarray, draws: int, seed: int
) -> dict[str, Any]:
    """Paired bootstrap of reference-minus-model AUC and model-minus-reference Brier."""
    weights = metrics.bootstrap_weights(len(y), draws, seed)
    auc_gap = metrics.weighted_auc(y, reference, weights) - metrics.weighted_auc(y, model, weights)
    brier_gap = weights @ ((model - y) ** 2 - (reference - y) ** 2) / len(y)
    return {
        "auc_gap": metrics.percentile_interval(
            metrics.auc(y, reference) - metrics.auc(y, model), auc_gap
        ).as_dict(),
        "brier_gap": metrics.percentile_interval(
            metrics.brier(y, model) - metrics.brier(y, reference), brier_gap
        ).as_dict(),
    }


def per_group_ndcg(
    y: np.ndarray,
    groups: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    seed: int,
) -> dict[str, dict[str, float]]:
    """Mean NDCG@10 over slates drawn within each group (e.g. subreddit), per model."""
    slates = metrics.group_slates(groups, metrics.SLATE_SIZE, seed)
    return {
        group: {
            name: float(metrics.slate_ndcg(y, p, group_slates).mean())
            for name, p in probabilities.items()
        }
        for group, group_slates in slates.items()
    }


def paired_differences(
    y: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    reference: str,
    draws: int,
    seed: int,
) -> dict[str, dict[str, dict[str, float]]]:
    """Model minus ``reference`` for every model, on the same resampled rows and slates.

    Pairing matters: the models score the same posts, so most of each metric's sampling noise
    is shared and cancels in the difference; separate intervals that overlap say little about
    whether two models differ. NDCG@10 uses the one fixed slate partition of ``metric_table``
    (slates resampled); AUC, Brier and log-loss resample rows. Same draws as ``metric_table``.
    """
    slates = metrics.make_slates(len(y), metrics.SLATE_SIZE, seed)
    row_weights = metrics.bootstrap_weights(len(y), draws, seed)
    slate_weights = metrics.bootstrap_weights(len(slates), draws, seed + 1)
    base = probabilities[reference]

    def per_row_losses(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clipped = np.clip(p, 1e-12, 1 - 1e-12)
        return (p - y) ** 2, -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))

    base_brier, base_log_loss = per_row_losses(base)
    base_ndcg = metrics.slate_ndcg(y, base, slates)
    base_auc = metrics.weighted_auc(y, base, row_weights)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, p in probabilities.items():
        brier, log_loss = per_row_losses(p)
        ndcg = metrics.slate_ndcg(y, p, slates) - base_ndcg
        auc_draws = metrics.weighted_auc(y, p, row_weights) - base_auc
        out[name] = {
            "auc": metrics.percentile_interval(
                metrics.auc(y, p) - metrics.auc(y, base), auc_draws
            ).as_dict(),
            "ndcg_at_10": metrics.percentile_interval(
                float(ndcg.mean()), slate_weights @ ndcg / len(ndcg)
            ).as_dict(),
            "brier": _row_difference(brier - base_brier, row_weights),
            "log_loss": _row_difference(log_loss - base_log_loss, row_weights),
        }
    return out


def _row_difference(difference: np.ndarray, row_weights: np.ndarray) -> dict[str, float]:
    draws = row_weights @ difference / len(difference)
    return metrics.percentile_interval(float(difference.mean()), draws).as_dict()


def partition_ndcg(
    y: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    reference: str,
    partitions: int,
    draws: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """NDCG@10 averaged over ``partitions`` random slate partitions, and its paired difference.

    One fixed partition into slates is one draw of which posts compete with which; a model
    can win or lose a few thousandths of NDCG on that luck alone. Per model: the mean over
    partitions (``mean``) and its spread (``partition_sd``); the mean difference from
    ``reference`` (``difference``) with a paired bootstrap interval in which every draw
    resamples the rows *and* cuts them into fresh slates, so both sources of noise are in it.
    """
    rng = np.random.default_rng(seed)
    names = list(probabilities)
    n_slates = len(y) // metrics.SLATE_SIZE

    def mean_ndcg(rows: np.ndarray) -> np.ndarray:
        slates = rows[: n_slates * metrics.SLATE_SIZE].reshape(n_slates, metrics.SLATE_SIZE)
        return np.array([metrics.slate_ndcg(y, probabilities[n], slates).mean() for n in names])

    by_partition = np.array([mean_ndcg(rng.permutation(len(y))) for _ in range(partitions)])
    resampled = np.array([mean_ndcg(rng.integers(0, len(y), size=len(y))) for _ in range(draws)])
    ref = names.index(reference)
    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        difference = metrics.percentile_interval(
            float((by_partition[:, i] - by_partition[:, ref]).mean()),
            resampled[:, i] - resampled[:, ref],
        )
        out[name] = {
            "mean": float(by_partition[:, i].mean()),
            "partition_sd": float(by_partition[:, i].std(ddof=1)),
            "difference": difference.value,
            "difference_low": difference.low,
            "difference_high": difference.high,
        }
    return out


def calibration_summary(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Brier, log-loss, ECE and the non-empty reliability bins of ``p``."""
    bins = metrics.reliability(y, p)
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": metrics.log_loss(y, p),
        "ece": metrics.ece(y, p),
        "bins": [
            {"mean_predicted": float(m), "observed_rate": float(o), "count": float(c)}
            for m, o, c in zip(bins.mean_predicted, bins.observed_rate, bins.counts, strict=True)
            if c > 0
        ],
    }
