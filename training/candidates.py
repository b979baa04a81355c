"""The candidates training compares: each family fitted on train and Platt-calibrated on
validation, on the selected groups and on all of them, beside the two heuristic rankers
(calibrated the same way) and the Bayes-optimal probability, all scored on any split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from bundle.scoring import FAMILIES, Family, PlattCalibrator, RankingModel, sigmoid
from features.fit import fit_features
from features.transform import ALL_GROUPS, Group
from features.transforms import DecaySpec
from training import baselines
from training.data import Dataset
from training.models import fit_family, fit_platt

BAYES: Final = "bayes_optimal"


def fit_candidate(
    dataset: Dataset, family: Family, groups: tuple[Group, ...], decay: DecaySpec, seed: int
) -> RankingModel:
    """Features and estimator fitted on train; Platt calibrator fitted on validation."""
    y = dataset.y
    features, matrix = fit_features(
        dataset.part("train"), y[dataset.split.train], groups, decay, seed
    )
    estimator = fit_family(family, matrix, y[dataset.split.train], seed)
    validation_log_odds = estimator.decision_function(
        features.transform(dataset.part("validation"))
    )
    calibrator = fit_platt(validation_log_odds, y[dataset.split.validation])
    return RankingModel(family, features, estimator, calibrator)


def heuristic_scores(posts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "reddit_hot": baselines.reddit_hot_score(posts),
        "hacker_news": baselines.hacker_news_score(posts),
    }


def _standardised(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    result: np.ndarray = (values - reference.mean()) / reference.std()
    return result


@dataclass(frozen=True)
class Candidates:
    """The fitted models by name, and the heuristics' calibrators (fitted on validation)."""

    dataset: Dataset
    models: dict[str, RankingModel]
    heuristic_calibrators: dict[str, PlattCalibrator]

    def probabilities(self, part: str, calibrated: bool) -> dict[str, np.ndarray]:
        """Every candidate's P(engaged) on split ``part``; the models' before their Platt
        calibration unless ``calibrated`` (the heuristics' are always calibrated)."""
        posts = self.dataset.part(part)
        out = {BAYES: baselines.bayes_optimal_probability(posts)}
        for name, model in self.models.items():
            out[name] = model.predict_proba(posts) if calibrated else sigmoid(model.log_odds(posts))
        reference = heuristic_scores(self.dataset.part("validation"))
        for name, score in heuristic_scores(posts).items():
            out[name] = self.heuristic_calibrators[name](_standardised(score, reference[name]))
        return out


def fit_candidates(
    dataset: Dataset, groups: tuple[Group, ...], decay: DecaySpec, seed: int
) -> Candidates:
    """Each family on ``groups`` (named by the family) and on every group (``_all_features``)."""
    models: dict[str, RankingModel] = {}
    for family in FAMILIES:
        models[family] = fit_candidate(dataset, family, groups, decay, seed)
        models[f"{family}_all_features"] = fit_candidate(dataset, family, ALL_GROUPS, decay, seed)
    y_validation = dataset.y[dataset.split.validation]
    calibrators = {
        name: fit_platt(_standardised(score, score), y_validation)
        for name, score in heuristic_scores(dataset.part("validation")).items()
    }
    return Candidates(dataset, models, calibrators)
