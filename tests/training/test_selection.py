"""Feature-group selection (``training.selection``) on a slice of the canonical data: the fold
matrices, cross-validated scores and backward elimination."""

from __future__ import annotations

import numpy as np
import pytest

from features.schema import take
from features.transform import ALL_GROUPS, GROUP_FEATURES
from training.data import cv_folds
from training.decay import choose_decay, fold_spread, sweep_decay
from training.selection import (
    FoldMatrices,
    backward_elimination,
    build_fold_matrices,
    cv_score,
)

SEED = 0


@pytest.fixture(scope="module")
def fold_matrices(canonical_slice: tuple[dict[str, np.ndarray], np.ndarray]) -> FoldMatrices:
    posts, y = canonical_slice
    return build_fold_matrices(posts, y, SEED)


def test_each_fold_fits_its_decay_on_its_own_fit_rows(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray], fold_matrices: FoldMatrices
) -> None:
    """The decay feeding a fold's features is the curve chosen on that fold's fit rows, so
    the labels of the rows it is evaluated on never reach it; it moves from fold to fold."""
    posts, y = canonical_slice
    fit_rows, held_rows = next(iter(cv_folds(y, SEED)))
    fit_posts, fit_y = take(posts, fit_rows), y[fit_rows]
    expected = choose_decay(sweep_decay(fit_posts, fit_y, SEED), fit_posts, fit_y, SEED)
    assert fold_matrices.decays[0] == expected
    age_decay = fold_matrices.columns["decay"][0]
    np.testing.assert_array_equal(
        fold_matrices.folds[0].held_matrix[:, age_decay],
        expected(posts["post_age_hours"][held_rows]),
    )
    spread = fold_spread(fold_matrices.decays)
    assert len(spread["folds"]) == len(fold_matrices.folds)
    assert 0 < spread["param_min"] < spread["param_max"]
    assert spread["param_sd"] > 0


def test_group_columns_partition_the_feature_matrix(fold_matrices: FoldMatrices) -> None:
    width = fold_matrices.folds[0].fit_matrix.shape[1]
    columns = np.concatenate([fold_matrices.columns[group] for group in ALL_GROUPS])
    np.testing.assert_array_equal(np.sort(columns), np.arange(width))
    for group in ALL_GROUPS:
        assert len(fold_matrices.columns[group]) == len(GROUP_FEATURES[group])


def test_raw_signals_beat_titles_and_subreddits(fold_matrices: FoldMatrices) -> None:
    raw = cv_score(fold_matrices, "logistic", ["raw"], SEED)
    no_signal = cv_score(fold_matrices, "logistic", ["text", "subreddit"], SEED)
    assert raw.log_loss < no_signal.log_loss - 5 * raw.log_loss_se
    # titles and subreddits are drawn independently of the label: AUC near a coin flip
    assert no_signal.auc == pytest.approx(0.5, abs=0.03)


def test_backward_elimination_keeps_raw_and_traces_every_trial(fold_matrices: FoldMatrices) -> None:
    groups, trace = backward_elimination(fold_matrices, "logistic", SEED)
    assert "raw" in groups
    assert trace[0].groups == ALL_GROUPS
    best = min(trace, key=lambda score: score.log_loss)
    kept = next(score for score in trace if score.groups == groups)
    assert kept.log_loss <= best.log_loss + best.log_loss_se  # the one-SE rule
