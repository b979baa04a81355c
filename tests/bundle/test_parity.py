"""Every scoring path gives the same scores: one transform, one runtime per family.

For both families and every feature group, a model fitted by the real training code is saved
with ``save_model``; every row of the canonical posts is then scored by the training
evaluation (the fitted model in memory), the service (``load_lean_model``, 20-post slates built
by ``serving.schemas.columns``), the local batch engine and the Spark engine, and each
must agree with the first within 1e-9 per post. The tree runtime on its own is
tests/bundle/test_trees.py, the exported document tests/bundle/test_export.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from batch.frames import SCORE_COLUMN
from batch.local import score_file
from batch.spark import score as spark_score
from benchmarks.payloads import load_posts
from bundle.scoring import FAMILIES, Family, RankingModel
from bundle.store import load_lean_model, load_model
from features.io import read_posts_csv
from features.schema import ID_COLUMN, LABEL_COLUMN
from features.transform import ALL_GROUPS, Group
from tests.support.bundles import save_bundle
from tests.support.posts import table_of

TOLERANCE = 1e-9
TRAIN_ROWS = 3_000
SLATE = 20
CHUNK_ROWS = 4_096
GROUP_SETS: tuple[tuple[Group, ...], ...] = (ALL_GROUPS, *((group,) for group in ALL_GROUPS))
CASES = [(family, groups) for family in FAMILIES for groups in GROUP_SETS]


@pytest.fixture(scope="module")
def canonical_posts(canonical_csv: Path) -> dict[str, np.ndarray]:
    posts = read_posts_csv(canonical_csv)
    posts.pop(LABEL_COLUMN)
    return posts


@pytest.fixture(scope="module")
def bundles(
    canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[Family, tuple[Group, ...]], tuple[RankingModel, Path]]]:
    """Each (family, groups) model fitted on the first rows and saved as a bundle."""
    out = {}
    for family, groups in CASES:
        directory = tmp_path_factory.mktemp(f"{family}-{'+'.join(groups)}")
        model = save_bundle(
            canonical_csv, directory, family, groups, rows=TRAIN_ROWS, version="parity"
        )
        out[family, groups] = (model, directory)
    yield out


def _by_id(path: Path) -> pd.Series:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    ids = frame[ID_COLUMN].astype(np.int64)  # Spark echoes the CSV's ids as strings
    return pd.Series(frame[SCORE_COLUMN].to_numpy(), index=ids).sort_index()


# every row of data/posts.csv through three engines for twelve bundles: end to end, not a unit
@pytest.mark.e2e
@pytest.mark.parametrize(("family", "groups"), CASES, ids=[f"{f}-{'+'.join(g)}" for f, g in CASES])
def test_training_service_and_batch_score_every_row_alike(
    family: Family,
    groups: tuple[Group, ...],
    bundles: dict[tuple[Family, tuple[Group, ...]], tuple[RankingModel, Path]],
    canonical_posts: dict[str, np.ndarray],
    canonical_csv: Path,
    tmp_path: Path,
) -> None:
    model, directory = bundles[family, groups]
    evaluated = model.predict_proba(canonical_posts)

    served_model = load_lean_model(directory).model  # checksums and self-check pass
    records = load_posts(canonical_csv)
    served = np.concatenate(
        [
            served_model.predict_proba(table_of(records[start : start + SLATE]))
            for start in range(0, len(records), SLATE)
        ]
    )
    assert np.abs(served - evaluated).max() <= TOLERANCE

    score_file(canonical_csv, tmp_path / "local.csv", load_model(directory).model, CHUNK_ROWS)
    local = _by_id(tmp_path / "local.csv")
    np.testing.assert_array_equal(local.index, np.sort(canonical_posts[ID_COLUMN]))
    order = np.argsort(canonical_posts[ID_COLUMN])
    assert np.abs(local.to_numpy() - evaluated[order]).max() <= TOLERANCE
    assert served_model.features.known_subreddits_ == model.features.known_subreddits_
    assert served_model.features.feature_names == model.features.feature_names


@pytest.mark.spark
def test_spark_scores_every_row_like_training(
    spark: SparkSession,
    bundles: dict[tuple[Family, tuple[Group, ...]], tuple[RankingModel, Path]],
    canonical_posts: dict[str, np.ndarray],
    canonical_csv: Path,
    tmp_path: Path,
) -> None:
    order = np.argsort(canonical_posts[ID_COLUMN])
    for (family, groups), (model, directory) in bundles.items():
        target = tmp_path / f"{family}-{'+'.join(groups)}.parquet"
        spark_score(spark, str(canonical_csv), str(target), directory)
        distributed = _by_id(target)
        expected = model.predict_proba(canonical_posts)[order]
        assert len(distributed) == len(expected), (family, groups)
        assert np.abs(distributed.to_numpy() - expected).max() <= TOLERANCE, (family, groups)
