"""Model families, the probability calibrator and the deployable ``RankingModel`` bundle.

Fitted estimators are reduced to what prediction needs (coefficients, a LightGBM booster), so
scoring a 20-post request is a few NumPy operations rather than scikit-learn's per-call checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from features.pipeline import FeaturePipeline
from features.schema import Posts

Family = Literal["logistic", "lightgbm"]
FAMILIES: Final[tuple[Family, ...]] = ("logistic", "lightgbm")

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


class Estimator(Protocol):
    """Anything that maps a feature matrix to uncalibrated log-odds."""

    def decision_function(self, matrix: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LogisticModel:
    """L2-regularised logistic regression on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def decision_function(self, matrix: np.ndarray) -> np.ndarray:
        result: np.ndarray = ((matrix - self.mean) / self.scale) @ self.coef + self.intercept
        return result

    def raw_coefficients(self) -> np.ndarray:
        """Coefficients per unit of each unscaled feature."""
        result: np.ndarray = self.coef / self.scale
        return result


@dataclass(frozen=True)
class LightGBMModel:
    """A gradient-boosted tree ensemble, early-stopped on rows it was not fitted on."""

    booster: lgb.Booster
    best_iteration: int

    def decision_function(self, matrix: np.ndarray) -> np.ndarray:
        # one thread: OpenMP start-up dominates on 20 rows and oversubscribes web workers
        result = self.booster.predict(
            matrix, raw_score=True, num_iteration=self.best_iteration, num_threads=1
        )
        return np.asarray(result, dtype=np.float64)


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
    """Fits one model family on a feature matrix."""
    if family == "logistic":
        return fit_logistic(matrix, y, seed)
    return fit_lightgbm(matrix, y, seed)


def sigmoid(log_odds: np.ndarray) -> np.ndarray:
    result: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * log_odds))
    return result


@dataclass(frozen=True)
class PlattCalibrator:
    """sigmoid(slope * log_odds + intercept), fitted on a calibration split.

    Platt scaling is strictly increasing, so calibrating never reorders a slate: AUC and NDCG
    are unchanged and only the probabilities move.
    """

    slope: float
    intercept: float

    @classmethod
    def fit(cls, log_odds: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(log_odds.reshape(-1, 1), y)
        return cls(float(fitted.coef_[0, 0]), float(fitted.intercept_[0]))

    def __call__(self, log_odds: np.ndarray) -> np.ndarray:
        return sigmoid(self.slope * log_odds + self.intercept)


@dataclass(frozen=True)
class RankingModel:
    """Feature pipeline + estimator + calibrator: posts in, calibrated P(engaged) out."""

    family: Family
    features: FeaturePipeline
    estimator: Estimator
    calibrator: PlattCalibrator

    def log_odds(self, posts: Posts) -> np.ndarray:
        return self.estimator.decision_function(self.features.transform(posts))

    def predict_proba(self, posts: Posts) -> np.ndarray:
        return self.calibrator(self.log_odds(posts))
