"""``bundle/trees.py``: the NumPy tree runtime the service scores LightGBM bundles with routes
every row as ``Booster.predict`` does, missing values included."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from bundle.scoring import LightGBMModel
from bundle.trees import TreeEnsemble


@pytest.mark.parametrize("missing", ["none", "nan", "zero"])
def test_tree_runtime_matches_booster_predict(missing: str) -> None:
    """The service's features are finite, but a tree model may still have NaN or zero
    branches: routing them the way LightGBM does is checked on data that has them."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2_000, 4))
    if missing != "none":
        matrix[rng.random(matrix.shape) < 0.2] = np.nan if missing == "nan" else 0.0
    y = (np.nan_to_num(matrix[:, 0]) + rng.normal(size=2_000) > 0).astype(int)
    # one thread, as in one_lightgbm_thread: OpenMP's default (every core) spins on a busy one
    params: dict[str, Any] = {
        "objective": "binary",
        "num_leaves": 7,
        "num_threads": 1,
        "verbose": -1,
    }
    if missing == "zero":
        params["zero_as_missing"] = True
    booster = lgb.train(params, lgb.Dataset(matrix, y), num_boost_round=30)
    reference = LightGBMModel(booster, best_iteration=30)
    ensemble = TreeEnsemble.from_booster(booster, 30)
    assert (missing == "none") != any(ensemble.missing)
    test = rng.normal(size=(500, 4))
    test[rng.random(test.shape) < 0.2] = np.nan
    test[rng.random(test.shape) < 0.1] = 0.0
    again = TreeEnsemble.from_dict(ensemble.to_dict())
    assert np.abs(again.decision_function(test) - reference.decision_function(test)).max() <= 1e-12
