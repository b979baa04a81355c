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
