"""Fitting the model families and the Platt calibrator, and comparing calibrators.

``fit_family`` returns the runtime a bundle scores the family with (coefficients, LightGBM's
trees as a ``bundle.trees.TreeEnsemble``), so cross-validation, evaluation, batch and the
service all score a family through the same code.
"""

from __future__ import annotations

from typing import Final

import lightgbm as lgb
import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from bundle.scoring import Estimator, Family, LightGBMModel, LogisticModel, PlattCalibrator
from bundle.trees import TreeEnsemble

LOGISTIC_C: Final = 1.0
LIGHTGBM_PARAMS: Final = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "lambda_l2": 1.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}
LIGHTGBM_MAX_ROUNDS: Final = 2000
LIGHTGBM_PATIENCE: Final = 100
EARLY_STOPPING_FRACTION: Final = 0.1


def fit_logistic(matrix: np.ndarray, y: np.ndarray, seed: int) -> LogisticModel:
    """Fits the logistic family; ``seed`` is unused by the deterministic solver."""
    del seed
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale == 0] = 1.0
    fitted = LogisticRegression(C=LOGISTIC_C, max_iter=5000).fit((matrix - mean) / scale, y)
    return LogisticModel(mean, scale, fitted.coef_.ravel().copy(), float(fitted.intercept_[0]))


def fit_lightgbm(matrix: np.ndarray, y: np.ndarray, seed: int) -> LightGBMModel:
    """Fits LightGBM with early stopping on a stratified slice of the rows it is given."""
    fit_rows, stop_rows = train_test_split(
        np.arange(len(y)), test_size=EARLY_STOPPING_FRACTION, stratify=y, random_state=seed
    )
    params = {**LIGHTGBM_PARAMS, "seed": seed}
    train_set = lgb.Dataset(matrix[fit_rows], y[fit_rows], free_raw_data=True)
    stop_set = lgb.Dataset(matrix[stop_rows], y[stop_rows], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=LIGHTGBM_MAX_ROUNDS,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(LIGHTGBM_PATIENCE, verbose=False)],
    )
    return LightGBMModel(booster, int(booster.best_iteration))


def fit_family(family: Family, matrix: np.ndarray, y: np.ndarray, seed: int) -> Estimator:
    """Fits one model family on a feature matrix; returns the family's scoring runtime."""
    if family == "logistic":
        return fit_logistic(matrix, y, seed)
    fitted = fit_lightgbm(matrix, y, seed)
    return TreeEnsemble.from_booster(fitted.booster, fitted.best_iteration)


def fit_platt(log_odds: np.ndarray, y: np.ndarray) -> PlattCalibrator:
    """Fits Platt scaling (an almost unregularised 1-D logistic regression) on held-out rows."""
    fitted = LogisticRegression(C=1e6, max_iter=1000).fit(log_odds.reshape(-1, 1), y)
    return PlattCalibrator(float(fitted.coef_[0, 0]), float(fitted.intercept_[0]))


def out_of_fold_calibration(
    log_odds: np.ndarray, y: np.ndarray, folds: int, seed: int
) -> dict[str, np.ndarray]:
    """Platt and isotonic probabilities for every row, each from a map fitted on the other folds.

    Both calibrators are fitted on the validation split, so comparing them there needs rows the
    map has not seen: scored in-sample, isotonic's step function would win by fitting noise.
    """
    out = {"platt": np.empty(len(y)), "isotonic": np.empty(len(y))}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fit_rows, held in splitter.split(log_odds.reshape(-1, 1), y):
        out["platt"][held] = fit_platt(log_odds[fit_rows], y[fit_rows])(log_odds[held])
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
        out["isotonic"][held] = isotonic.fit(log_odds[fit_rows], y[fit_rows]).predict(
            log_odds[held]
        )
    return out
