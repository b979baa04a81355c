"""One small model fitted by the real feature and model code, for fixtures and tests."""

from __future__ import annotations

from collections.abc import Sequence

from bundle.scoring import Family, RankingModel
from features.fit import fit_features
from features.schema import LABEL_COLUMN, Posts
from features.transform import Group
from training.models import fit_family, fit_platt

from .conftest import one_lightgbm_thread


def fit_model(
    labelled: Posts, family: Family, groups: Sequence[Group]
) -> tuple[RankingModel, Posts]:
    """``family`` on ``groups``, fitted and Platt-calibrated on ``labelled`` as training does
    (one LightGBM thread); returns it and the posts without their label."""
    posts = dict(labelled)
    y = posts.pop(LABEL_COLUMN)
    features, matrix = fit_features(posts, y, groups)
    with one_lightgbm_thread():
        estimator = fit_family(family, matrix, y, seed=0)
    calibrator = fit_platt(estimator.decision_function(matrix), y)
    return RankingModel(family, features, estimator, calibrator), posts
