"""Fixtures for the API tests: a small real model, the app around it, realistic posts.

The model is trained by the real feature and model code on 10,000 canonical rows with every
feature group (so the request path exercises text and subreddit features too), and written
with ``save_model`` into a temp dir: the tests never depend on ``models/``.
A test module uses them with ``pytest_plugins = ["tests.serving_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bundle.scoring import Family
from bundle.store import bundle_metadata, save_model
from features.io import read_posts_csv
from features.schema import take
from features.transform import ALL_GROUPS
from serving.app import create_app
from serving.payloads import Post, load_posts
from serving.settings import Settings
from tests.support.server import Server, start_server

from .api_helpers import MODEL_VERSION
from .fitted import fit_model

TRAIN_ROWS = 10_000


def train_fixture_bundle(canonical_csv: Path, family: Family, model_dir: Path) -> Path:
    """A bundle of ``family`` on every feature group, saved like the training CLI saves one."""
    labelled = take(read_posts_csv(canonical_csv), np.arange(TRAIN_ROWS))
    model, posts = fit_model(labelled, family, ALL_GROUPS)
    metadata = bundle_metadata(
        model, MODEL_VERSION, take(posts, np.arange(5)), metrics={"note": "test fixture"}
    )
    save_model(model, metadata, model_dir)
    return model_dir


@pytest.fixture(scope="session")
def api_model_dir(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The logistic fixture bundle the API tests serve."""
    return train_fixture_bundle(
        canonical_csv, "logistic", tmp_path_factory.mktemp("api-model") / "models"
    )


@pytest.fixture(scope="session")
def lightgbm_model_dir(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM bundle on every group: the other family training can deploy."""
    return train_fixture_bundle(
        canonical_csv, "lightgbm", tmp_path_factory.mktemp("lightgbm-model") / "models"
    )


@pytest.fixture(scope="session")
def api_posts(canonical_csv: Path) -> list[Post]:
    """Canonical posts (label dropped) as JSON-ready dicts, held out from the fixture model."""
    return load_posts(canonical_csv)[TRAIN_ROWS:]


@pytest.fixture(scope="session")
def api_client(api_model_dir: Path) -> Iterator[TestClient]:
    """The app with its lifespan run (model loaded), shared by the whole session."""
    app = create_app(Settings(model_dir=api_model_dir, max_body_bytes=64 * 1024))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def running_server(
    api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One ready ``python -m serving`` for the session (fuzzing, hostile cases, soak), stopped
    at the end: it must exit 0."""
    server = start_server(api_model_dir, tmp_path_factory.mktemp("server-log")).started()
    yield server
    status = server.terminate()
    assert status == 0, server.log()
