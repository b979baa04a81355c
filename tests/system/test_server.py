"""A real ``python -m serving`` process: it serves over a socket, and it refuses to start on a
missing or corrupt model directory with one clear line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bundle.store import MODEL_FILE
from tests.support.bundles import MODEL_VERSION
from tests.support.server import START_TIMEOUT_S, STOPPED, Server, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(api_model_dir, tmp_path_factory.mktemp("server-log")).started()
    yield running
    assert running.terminate() == STOPPED, running.log()


def test_real_server_ranks_and_rejects(server: Server, api_posts: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ok = client.post("/rank", json={"posts": api_posts[:20]})
        assert ok.status_code == 200
        assert ok.json()["model_version"] == MODEL_VERSION
        assert len(ok.json()["ranked"]) == 20
        assert client.post("/rank", json=[]).status_code == 422
        assert client.post("/rank", json=api_posts[:21]).status_code == 422
        bad_json = client.post("/rank", content=b"{", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400
        huge = client.post(
            "/rank", content=b" " * 300_000, headers={"content-type": "application/json"}
        )
        assert (huge.status_code, huge.headers["connection"]) == (413, "close")
        metrics = client.get("/metrics").text
        assert 'feedrank_http_requests_total{method="POST",route="/rank",status="200"} 1' in metrics


def _refusal(model_dir: Path, log_dir: Path) -> tuple[int, str]:
    server = start_server(model_dir, log_dir)
    status = server.process.wait(timeout=START_TIMEOUT_S)
    return status, server.log()


def _assert_one_clear_line(status: int, output: str, *needles: str) -> None:
    assert status != 0
    assert "Traceback" not in output
    reasons = [line for line in output.splitlines() if "feedrank cannot start" in line]
    assert len(reasons) == 1, output
    for needle in needles:
        assert needle in reasons[0]


def test_missing_model_dir_refuses_to_start(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-models"
    _assert_one_clear_line(*_refusal(missing, tmp_path), str(missing), "does not exist")


def test_corrupt_model_refuses_to_start(api_model_dir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "models"
    shutil.copytree(api_model_dir, corrupt)
    with (corrupt / MODEL_FILE).open("ab") as handle:
        handle.write(b"tampered")
    _assert_one_clear_line(
        *_refusal(corrupt, tmp_path), str(corrupt / MODEL_FILE), "does not match"
    )


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("body_timeout", "abc", "FEEDRANK_BODY_TIMEOUT='abc'"),
        ("keep_alive_timeout", "0", "FEEDRANK_KEEP_ALIVE_TIMEOUT='0'"),
        ("challenger_mode", "shadow", "set together or not at all"),
    ],
)
def test_a_bad_setting_refuses_to_start_naming_it(
    api_model_dir: Path, tmp_path: Path, variable: str, value: str, needle: str
) -> None:
    server = start_server(api_model_dir, tmp_path, **{variable: value})
    status = server.process.wait(timeout=START_TIMEOUT_S)
    _assert_one_clear_line(status, server.log(), needle)
