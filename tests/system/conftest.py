"""Fixtures of the whole-process tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.feature_stores import FeatureServer
from tests.support.server import Server, start_server


@pytest.fixture(scope="session")
def running_server(
    api_model_dir: Path,
    sqlite_feature_server: FeatureServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """One ready ``python -m serving`` for the session (fuzzing, hostile cases, soak), stopped
    at the end: it must exit 0. Its /rank/ids reads the test store through the feature server
    with a deadline that tests behaviour, not this machine's speed."""
    server = start_server(
        api_model_dir,
        tmp_path_factory.mktemp("server-log"),
        feature_server=sqlite_feature_server.url,
        store_timeout="5",
    ).started()
    yield server
    status = server.terminate()
    assert status == 0, server.log()
