"""The one factory for the model bundles fixtures serve: a real fit, saved as training saves it.

``save_bundle`` fits ``family`` on ``groups`` with the real feature and model code on the first
canonical rows (``TRAIN_ROWS`` unless told), Platt-calibrates it, and writes it with
``save_model`` (with a drift reference when asked): the tests never depend on ``models/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from bundle import drift as drift_reference
from bundle.scoring import Family, RankingModel
from bundle.store import bundle_metadata, save_model
from features.fit import fit_features
from features.io import read_posts_csv
from features.schema import LABEL_COLUMN, Posts, take
from features.transform import Group

TRAIN_ROWS: Final = 10_000
"""Rows the fixture bundles are fitted on; the rows after them are held out as request posts."""
MODEL_VERSION: Final = "api-test"
CHAMPION: Final = "champion-test"
CHALLENGER: Final = "challenger-test"


@dataclass(frozen=True)
class TrainedBundle:
    """The deployed configuration trained by ``training.train_candidate`` (``deployed_bundle``)."""

    data_path: Path
    model_dir: Path


@dataclass(frozen=True)
class TrainedArtifacts:
    """A whole training run's outputs (``trained_artifacts``)."""

    data_path: Path
    model_dir: Path
    metrics_dir: Path


@dataclass(frozen=True)
class RolloutModels:
    """The champion and challenger bundles (``rollout_models``)."""

    champion: Path
    challenger: Path


@contextmanager
def one_lightgbm_thread() -> Iterator[None]:
    """LightGBM fits inside use one thread instead of training's two.

    Two OpenMP threads on a 2-core machine whose other core is busy spin at every barrier. The
    fixtures' bundles only need to be some fitted model, so their thread count changes nothing
    a test checks; the full run (``trained_artifacts``) keeps training's own setting, which the
    reproducibility test needs.
    """
    from training.models import LIGHTGBM_PARAMS

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(LIGHTGBM_PARAMS, "num_threads", 1)
        yield


def fit_model(
    labelled: Posts, family: Family, groups: Sequence[Group]
) -> tuple[RankingModel, Posts]:
    """``family`` on ``groups``, fitted and Platt-calibrated on ``labelled`` as training does
    (one LightGBM thread); returns it and the posts without their label."""
    from training.models import fit_family, fit_platt

    posts = dict(labelled)
    y = posts.pop(LABEL_COLUMN)
    features, matrix = fit_features(posts, y, groups)
    with one_lightgbm_thread():
        estimator = fit_family(family, matrix, y, seed=0)
    calibrator = fit_platt(estimator.decision_function(matrix), y)
    return RankingModel(family, features, estimator, calibrator), posts


def save_bundle(
    csv: Path,
    directory: Path,
    family: Family,
    groups: Sequence[Group],
    *,
    rows: int = TRAIN_ROWS,
    version: str = MODEL_VERSION,
    drift: bool = False,
) -> RankingModel:
    """``family`` on ``groups`` fitted on ``csv``'s first ``rows`` rows, saved into ``directory``
    like the training CLI saves a bundle (with a drift reference if ``drift``); returns the model
    so a test can compare what a loader makes of the bundle with it."""
    model, posts = fit_model(take(read_posts_csv(csv), np.arange(rows)), family, groups)
    extra: dict[str, Any] = {"metrics": {"note": "test fixture"}}
    if drift:
        extra["drift"] = drift_reference.reference(posts, model.predict_proba(posts))
    metadata = bundle_metadata(model, version, take(posts, np.arange(5)), **extra)
    save_model(model, metadata, directory)
    return model
