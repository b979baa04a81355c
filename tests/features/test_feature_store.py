"""The Feast definitions (features/feature_store.py): the offline store gives training the very
frame the CSV gives, column for column, and the event timestamps follow their stated rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore

from features.feature_store import (
    DEFAULT_CONFIG,
    SNAPSHOT,
    TIMESTAMP_COLUMN,
    historical_posts,
    register,
    source_path,
)
from features.io import read_posts_csv
from tests.support import ROOT


@pytest.fixture(scope="module")
def store(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    """The project's repository in a temp dir, its offline source written from the CSV."""
    config = tmp_path_factory.mktemp("store") / "feature_repo" / DEFAULT_CONFIG.name
    config.parent.mkdir()
    shutil.copyfile(ROOT / DEFAULT_CONFIG, config)
    return register(canonical_csv, config)[0]


def test_the_offline_store_gives_the_training_frame_column_for_column(
    store: FeatureStore, canonical_csv: Path
) -> None:
    expected = read_posts_csv(canonical_csv)
    got = historical_posts(store, canonical_csv)
    assert list(got) == list(expected)
    for column, values in expected.items():
        assert got[column].dtype == values.dtype, column
        assert np.array_equal(got[column], values), column


def test_event_timestamps_are_the_snapshot_less_each_posts_age(store: FeatureStore) -> None:
    source = pd.read_parquet(source_path(store))
    age = pd.to_timedelta(source["post_age_hours"], unit="h")
    expected = (pd.Timestamp(SNAPSHOT) - age).dt.floor("s")
    assert (source[TIMESTAMP_COLUMN] == expected).all()
    assert (source[TIMESTAMP_COLUMN] <= pd.Timestamp(SNAPSHOT)).all()
