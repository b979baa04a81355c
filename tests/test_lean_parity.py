"""The exported scoring path (``scoring.json`` + ``bundle.lean``) against the trained model.

For both families and every feature group, a model fitted by the real training code is saved
with ``save_model``, loaded back through ``load_lean_model`` (what the service does) and must
give the scores of ``RankingModel.predict_proba`` within 1e-9 on held-out posts, scored as one
batch and as 20-post slates built the way the service builds them. The pieces that re-implement
scikit-learn (tokenising, MurmurHash3) and LightGBM (missing-value routing) are checked against
the originals directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils import murmurhash3_32

from bundle.export import export_estimator, export_model
from bundle.lean import estimator_from_export, title_ngrams
from bundle.lean import murmurhash3_32 as lean_murmurhash
from bundle.scoring import FAMILIES, Family, LightGBMModel, RankingModel
from bundle.store import bundle_metadata, load_lean_model, load_model, save_model
from features.io import read_posts_csv
from features.pipeline import ALL_GROUPS, FeatureConfig, FeaturePipeline, Group
from features.schema import INPUT_COLUMNS, LABEL_COLUMN, take
from serving.payloads import load_posts
from serving.schemas import columns
from training.models import fit_family, fit_platt

from .fitted import fit_model

TOLERANCE = 1e-9
TRAIN_ROWS = 3_000
SCORED_ROWS = 1_000
SLATE = 20
GROUP_SETS: tuple[tuple[Group, ...], ...] = (ALL_GROUPS, *((group,) for group in ALL_GROUPS))


@pytest.fixture(scope="module")
def canonical_posts(canonical_csv: Path) -> dict[str, np.ndarray]:
    return read_posts_csv(canonical_csv)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("groups", GROUP_SETS, ids="+".join)
def test_exported_model_scores_like_the_trained_one(
    family: Family,
    groups: tuple[Group, ...],
    canonical_posts: dict[str, np.ndarray],
    canonical_csv: Path,
    tmp_path: Path,
) -> None:
    model, train = fit_model(take(canonical_posts, np.arange(TRAIN_ROWS)), family, groups)
    save_model(model, bundle_metadata(model, "parity", take(train, np.arange(5))), tmp_path)

    lean = load_lean_model(tmp_path).model  # checksums and self-check pass
    trained = load_model(tmp_path).model
    held_out = take(canonical_posts, np.arange(TRAIN_ROWS, TRAIN_ROWS + SCORED_ROWS))
    held_out.pop(LABEL_COLUMN)
    expected = trained.predict_proba(held_out)
    assert np.abs(lean.predict_proba(held_out) - expected).max() <= TOLERANCE

    records = load_posts(canonical_csv)[TRAIN_ROWS : TRAIN_ROWS + SCORED_ROWS]
    served = np.concatenate(
        [
            lean.predict_proba(columns(records[start : start + SLATE], INPUT_COLUMNS))
            for start in range(0, SCORED_ROWS, SLATE)
        ]
    )
    assert np.abs(served - expected).max() <= TOLERANCE
    assert list(lean.features.feature_names) == list(trained.features.feature_names)
    assert lean.features.known_subreddits_ == trained.features.known_subreddits_


def test_export_is_plain_json_without_nan(
    canonical_posts: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """What ``save_model`` writes: no pickle, and it refuses to write a non-finite number."""
    train = take(canonical_posts, np.arange(TRAIN_ROWS))
    y = train.pop(LABEL_COLUMN)
    pipeline = FeaturePipeline(FeatureConfig(groups=("raw",)))
    estimator = fit_family("logistic", pipeline.fit_transform(train, y), y, seed=0)
    model = RankingModel("logistic", pipeline, estimator, fit_platt(np.zeros(len(y)), y))
    document = export_model(model)
    assert document["features"]["tfidf"] is None and document["estimator"]["kind"] == "logistic"
    broken = RankingModel(
        "logistic", pipeline, estimator, type(model.calibrator)(float("nan"), 0.0)
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        save_model(broken, bundle_metadata(model, "nan", take(train, np.arange(5))), tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("missing", ["nan", "zero"])
def test_tree_export_routes_missing_values_like_lightgbm(missing: str) -> None:
    """The service's features are finite, but a tree model may still have NaN or zero
    branches: routing them the way LightGBM does is checked on data that has them."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2_000, 4))
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
    model = LightGBMModel(booster, best_iteration=30)
    spec = export_estimator(model)
    assert any(code != 0 for code in spec["nodes"]["missing"])
    ensemble = estimator_from_export(spec)
    test = rng.normal(size=(500, 4))
    test[rng.random(test.shape) < 0.2] = np.nan
    test[rng.random(test.shape) < 0.1] = 0.0
    assert np.abs(ensemble.decision_function(test) - model.decision_function(test)).max() <= 1e-12


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_murmurhash_matches_scikit_learn(text: str) -> None:
    data = text.encode("utf-8")
    assert lean_murmurhash(data) == murmurhash3_32(data, seed=0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_title_ngrams_match_scikit_learn_analyzer(title: str) -> None:
    analyzer = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    assert title_ngrams(title) == analyzer(title)
