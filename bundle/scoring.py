"""The scoring objects of a bundle: features -> estimator log-odds -> calibrated probability.

Fitted estimators are reduced to what prediction needs (coefficients, a tree table), so scoring
a 20-post request is a few NumPy operations rather than scikit-learn's per-call checks. Fitting
lives in ``training.models``; these classes only predict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

import numpy as np

from features.schema import Posts
from features.transform import Features

if TYPE_CHECKING:  # annotations only: the service imports this module without LightGBM
    import lightgbm as lgb

Family = Literal["logistic", "lightgbm"]
FAMILIES: Final[tuple[Family, ...]] = ("logistic", "lightgbm")


class Scorer(Protocol):
    """Anything that turns posts into calibrated probabilities (trained or exported model)."""

    def predict_proba(self, posts: Posts) -> np.ndarray: ...


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
    """A fitted booster, early-stopped on rows it was not fitted on (training and notebooks;
    bundles score it through ``bundle.trees.TreeEnsemble``)."""

    booster: lgb.Booster
    best_iteration: int

    def decision_function(self, matrix: np.ndarray) -> np.ndarray:
        # one thread: OpenMP start-up dominates on 20 rows and oversubscribes web workers
        result = self.booster.predict(
            matrix, raw_score=True, num_iteration=self.best_iteration, num_threads=1
        )
        return np.asarray(result, dtype=np.float64)


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

    def __call__(self, log_odds: np.ndarray) -> np.ndarray:
        return sigmoid(self.slope * log_odds + self.intercept)


@dataclass(frozen=True)
class Scored:
    """Calibrated probabilities and the seconds each half of scoring took (``Server-Timing``)."""

    probabilities: np.ndarray
    featurise_seconds: float
    predict_seconds: float


@dataclass(frozen=True)
class RankingModel:
    """Features + estimator + calibrator: posts in, calibrated P(engaged) out."""

    family: Family
    features: Features
    estimator: Estimator
    calibrator: PlattCalibrator

    def log_odds(self, posts: Posts) -> np.ndarray:
        return self.estimator.decision_function(self.features.transform(posts))

    def predict_proba(self, posts: Posts) -> np.ndarray:
        return self.score(posts).probabilities

    def score(self, posts: Posts) -> Scored:
        """``predict_proba`` with the time spent building features and in the estimator."""
        start = time.perf_counter()
        matrix = self.features.transform(posts)
        featurised = time.perf_counter()
        probabilities = self.calibrator(self.estimator.decision_function(matrix))
        return Scored(probabilities, featurised - start, time.perf_counter() - featurised)
