"""Unit tests of the training stages on small slices of the canonical data.

Each test states a property that the data-generating process makes true (the generator's
logit is linear in age, titles and subreddits carry no signal), so a broken stage fails here
rather than as a shifted number in the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from features.io import read_posts_csv
from features.schema import CATEGORY_COLUMN, LABEL_COLUMN, take
from features.transform import ALL_GROUPS, GROUP_FEATURES
from training import baselines, evaluate
from training.data import cv_folds
from training.decay import candidates, choose_decay, fold_spread, sweep_decay
from training.selection import (
    FoldMatrices,
    backward_elimination,
    build_fold_matrices,
    cv_score,
)

ROWS = 3_000
SEED = 0


@pytest.fixture(scope="module")
def canonical_slice(canonical_csv: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    posts = take(read_posts_csv(canonical_csv), np.arange(ROWS))
    y = posts.pop(LABEL_COLUMN)
    return posts, y


# --- baselines -----------------------------------------------------------------------------------


def test_generator_log_odds_is_the_generator_formula() -> None:
    post = {
        "score": np.array([2000.0]),
        "post_age_hours": np.array([10.0]),
        "upvote_ratio": np.array([0.5]),
        "num_comments": np.array([100.0]),
    }
    expected = 0.03 * 2000 / 1000 - 0.05 * 10 + 1.2 * 0.5 + 0.002 * 100
    assert baselines.generator_log_odds(post)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("log_odds", [-4.0, -0.5, 0.0, 1.3, 5.0])
def test_bayes_probability_integrates_the_noise_inside_the_sigmoid(log_odds: float) -> None:
    """Gauss-Hermite against adaptive quadrature of E[sigmoid(f + e)], e ~ N(0, 0.8)."""
    sd = baselines.GENERATOR_NOISE_SD

    def integrand(e: float) -> float:
        density = np.exp(-0.5 * (e / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        return float(density / (1.0 + np.exp(-(log_odds + e))))

    exact, _ = integrate.quad(integrand, -12 * sd, 12 * sd, epsabs=1e-13)
    # a post whose generator log-odds is exactly ``log_odds``: all of it from upvote_ratio
    post = {
        "score": np.zeros(1),
        "post_age_hours": np.zeros(1),
        "upvote_ratio": np.array([log_odds / 1.2]),
        "num_comments": np.zeros(1),
    }
    assert baselines.bayes_optimal_probability(post)[0] == pytest.approx(exact, abs=1e-9)


def test_heuristics_rank_fresher_and_higher_scored_posts_first() -> None:
    posts = {
        "score": np.array([100.0, 100.0, 1000.0]),
        "post_age_hours": np.array([1.0, 10.0, 10.0]),
    }
    for scorer in (baselines.reddit_hot_score, baselines.hacker_news_score):
        fresh, old, old_popular = scorer(posts)
        assert fresh > old
        assert old_popular > old


# --- decay ---------------------------------------------------------------------------------------


def test_decay_sweep_prefers_the_generators_exponential_odds_decay(
    canonical_slice: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    posts, y = canonical_slice
    scores = sweep_decay(posts, y, SEED)
    grid = candidates()
    assert [(s.form, s.placement) for s in scores] == [(form, at) for form, at, _ in grid]
    # grid points keep their parameter; the odds candidate reports its mean fitted rate
    assert [s.param for s in scores if s.placement == "feature"] == [
        param for _, at, param in grid if at == "feature"
    ]
    best = min(scores, key=lambda score: score.log_loss)
    assert (best.form, best.placement) == ("exponential", "odds")
    assert best.half_life_hours == pytest.approx(np.log(2) / best.param, rel=1e-12)
    chosen = choose_decay(scores, posts, y, SEED)
    # the generator's 0.05 per hour, attenuated by the in-sigmoid noise to ~0.045; 6,000 rows
    # estimate it to within about +-0.004 (one CV fit's standard error is ~0.0015)
    assert chosen.param == pytest.approx(0.045, abs=0.006)
    assert chosen.half_life_hours == pytest.approx(np.log(2) / chosen.param, rel=1e-12)


# --- selection -----------------------------------------------------------------------------------


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


# --- evaluate ------------------------------------------------------------------------------------


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
