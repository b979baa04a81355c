"""Choosing the model family and feature groups by cross-validation on the training split.

Features are built once per fold for the full configuration. Every fitted piece sees only that
fold's fit rows, the decay curve included: it is swept and chosen on the fit rows
(``training.decay``), so no label of a held-out row reaches a feature it is scored with. A
feature subset is a column slice of those matrices, which is valid because no group's
transform depends on another group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bundle.scoring import FAMILIES, Family, sigmoid
from features.fit import fit_features
from features.schema import Posts, take
from features.transform import ALL_GROUPS, GROUP_FEATURES, Group
from features.transforms import DecaySpec
from training import metrics
from training.data import cv_folds
from training.decay import choose_decay, fold_spread, sweep_decay
from training.models import fit_family


@dataclass(frozen=True)
class Fold:
    fit_matrix: np.ndarray
    fit_y: np.ndarray
    held_matrix: np.ndarray
    held_y: np.ndarray
    held_slates: np.ndarray


@dataclass(frozen=True)
class FoldMatrices:
    """Full-feature matrices per CV fold, where each group's columns sit, and the decay curve
    each fold fitted on its own fit rows."""

    folds: tuple[Fold, ...]
    columns: dict[Group, np.ndarray]
    decays: tuple[DecaySpec, ...]

    def select(self, groups: Sequence[Group]) -> np.ndarray:
        ordered = [group for group in ALL_GROUPS if group in groups]
        return np.concatenate([self.columns[group] for group in ordered])


@dataclass(frozen=True)
class CVScore:
    family: Family
    groups: tuple[Group, ...]
    log_loss: float
    log_loss_se: float
    auc: float
    ndcg_at_10: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "groups": list(self.groups),
            "log_loss": self.log_loss,
            "log_loss_se": self.log_loss_se,
            "auc": self.auc,
            "ndcg_at_10": self.ndcg_at_10,
        }


def build_fold_matrices(posts: Posts, y: np.ndarray, seed: int) -> FoldMatrices:
    folds, decays = [], []
    for fit_rows, held_rows in cv_folds(y, seed):
        fit_posts, fit_y = take(posts, fit_rows), y[fit_rows]
        decay = choose_decay(sweep_decay(fit_posts, fit_y, seed), fit_posts, fit_y, seed)
        features, fit_matrix = fit_features(fit_posts, fit_y, ALL_GROUPS, decay, seed)
        held_matrix = features.transform(take(posts, held_rows))
        slates = metrics.make_slates(len(held_rows), metrics.SLATE_SIZE, seed)
        folds.append(Fold(fit_matrix, fit_y, held_matrix, y[held_rows], slates))
        decays.append(decay)
    columns: dict[Group, np.ndarray] = {}
    start = 0
    for group in ALL_GROUPS:
        width = len(GROUP_FEATURES[group])
        columns[group] = np.arange(start, start + width)
        start += width
    return FoldMatrices(tuple(folds), columns, tuple(decays))


def cv_score(matrices: FoldMatrices, family: Family, groups: Sequence[Group], seed: int) -> CVScore:
    columns = matrices.select(groups)
    losses, aucs, ndcgs = [], [], []
    for fold in matrices.folds:
        model = fit_family(family, fold.fit_matrix[:, columns], fold.fit_y, seed)
        p = sigmoid(model.decision_function(fold.held_matrix[:, columns]))
        losses.append(metrics.log_loss(fold.held_y, p))
        aucs.append(metrics.auc(fold.held_y, p))
        ndcgs.append(float(metrics.slate_ndcg(fold.held_y, p, fold.held_slates).mean()))
    return CVScore(
        family=family,
        groups=tuple(group for group in ALL_GROUPS if group in groups),
        log_loss=float(np.mean(losses)),
        log_loss_se=float(np.std(losses, ddof=1) / np.sqrt(len(losses))),
        auc=float(np.mean(aucs)),
        ndcg_at_10=float(np.mean(ndcgs)),
    )


def ablation(matrices: FoldMatrices, family: Family, seed: int) -> list[CVScore]:
    """All groups, each group held out in turn, and raw features alone."""
    configs: list[tuple[Group, ...]] = [ALL_GROUPS]
    configs += [tuple(g for g in ALL_GROUPS if g != held) for held in ALL_GROUPS]
    configs.append(("raw",))
    return [cv_score(matrices, family, groups, seed) for groups in configs]


def backward_elimination(
    matrices: FoldMatrices, family: Family, seed: int
) -> tuple[tuple[Group, ...], list[CVScore]]:
    """Drops groups while the simpler set stays within one standard error (one-SE rule).

    Each round removes the group whose absence costs least; it stops when that removal puts
    CV log-loss more than one standard error above the best set seen, or one group is left.
    Fewer groups means less to compute per request and less to go wrong, so ties go to less.
    """
    current = cv_score(matrices, family, ALL_GROUPS, seed)
    trace = [current]
    while len(current.groups) > 1:
        trials = [
            cv_score(matrices, family, [g for g in current.groups if g != held], seed)
            for held in current.groups
        ]
        trace.extend(trials)
        best_seen = min(trace, key=lambda score: score.log_loss)
        simplest = min(trials, key=lambda score: score.log_loss)
        if simplest.log_loss > best_seen.log_loss + best_seen.log_loss_se:
            break
        current = simplest
    return current.groups, trace


@dataclass(frozen=True)
class Selection:
    """The deployed family and groups, and the evidence: every family's ablation, the
    elimination trace and how the decay curve fitted inside the folds spreads."""

    family: Family
    groups: tuple[Group, ...]
    ablations: dict[Family, list[CVScore]]
    elimination: list[CVScore]
    fold_decays: dict[str, Any]


def select_model(posts: Posts, y: np.ndarray, seed: int) -> Selection:
    """The family whose full feature set has the lowest CV log-loss, on the groups backward
    elimination keeps for it."""
    matrices = build_fold_matrices(posts, y, seed)
    ablations = {family: ablation(matrices, family, seed) for family in FAMILIES}
    family = min(FAMILIES, key=lambda f: ablations[f][0].log_loss)
    groups, elimination = backward_elimination(matrices, family, seed)
    return Selection(family, groups, ablations, elimination, fold_spread(matrices.decays))
