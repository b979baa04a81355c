"""Fixtures of the in-process serving tests: the app around the fixture bundle, and a LightGBM
bundle beside the logistic one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.transform import ALL_GROUPS
from serving.app import create_app
from serving.settings import Settings
from tests.support.bundles import save_bundle


@pytest.fixture(scope="session")
def lightgbm_model_dir(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM bundle on every group: the other family training can deploy. Its tests compare
    scoring paths of one bundle, so a fit on fewer rows than the logistic one serves them."""
    out = tmp_path_factory.mktemp("lightgbm-model") / "models"
    save_bundle(canonical_csv, out, "lightgbm", ALL_GROUPS, rows=3_000)
    return out


@pytest.fixture(scope="session")
def api_client(api_model_dir: Path) -> Iterator[TestClient]:
    """The app with its lifespan run (model loaded), shared by the whole session."""
    app = create_app(Settings(model_dir=api_model_dir, max_body_bytes=64 * 1024))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
