"""Fixtures of the whole-process tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.feature_stores import FeatureServer
from tests.support.server import STOPPED, Server, start_server
from tests.support.stack import RunningStack, start_stack


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
    assert server.terminate() == STOPPED, server.log()


@pytest.fixture(scope="session")
def stack(api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The topology, once for the session, as ``make stack`` starts it from deploy/: HAProxy in
    front of two replicas of the test bundle, Feast's feature server, and Redis filled from
    data/posts.csv. ``make stack-down`` stops it at the end."""
    missing = [name for name in ("haproxy", "redis-server") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian's packages; CI installs them)")
    if not (ROOT / "data" / "posts.csv").is_file():
        pytest.skip("the stack fills Redis from data/posts.csv: run the pipeline first")
    running = start_stack(tmp_path_factory.mktemp("stack"), FEEDRANK_MODEL_DIR=str(api_model_dir))
    yield running
    running.stop()
