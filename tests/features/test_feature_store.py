"""The Feast definitions (features/feature_store.py): the offline store gives training the very
frame the CSV gives, column for column, and the event timestamps follow their stated rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

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

if TYPE_CHECKING:  # Feast itself is imported by features.feature_store, which says why
    from feast import FeatureStore

pytestmark = pytest.mark.e2e  # Feast takes seconds to import


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


def test_importing_feast_leaves_prometheus_as_the_environment_sets_it(tmp_path: Path) -> None:
    """feast.metrics would switch prometheus_client, and the service's metrics, to multiprocess
    mode in a temp dir of its own; the import in features.feature_store keeps it out."""
    probe = (
        "import os, features.feature_store, prometheus_client.values as values; "
        "print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'), values.ValueClass.__name__)"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("PROMETHEUS_")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["None", "MutexValue"]
    assert not list(tmp_path.iterdir())
