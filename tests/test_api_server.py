"""A real ``uvicorn serving.app:app`` process: it serves over a socket, and it refuses to start
on a missing or corrupt model directory with one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bundle.store import MODEL_DIR_ENV, MODEL_FILE

from .api_helpers import MODEL_VERSION, free_port, wait_ready

pytest_plugins = ["tests.serving_fixtures"]  # its fixtures: api_model_dir, api_posts

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0


def uvicorn(model_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.app:app", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, MODEL_DIR_ENV: str(model_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stderr_if_exited(process: subprocess.Popen[str]) -> str:
    return process.communicate()[1] if process.poll() is not None else "(still running)"


@pytest.fixture(scope="module")
def server_url(api_model_dir: Path) -> Iterator[str]:
    port = free_port()
    process = uvicorn(api_model_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, START_TIMEOUT_S, lambda: _stderr_if_exited(process))
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_real_server_ranks_and_rejects(server_url: str, api_posts: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=server_url, timeout=10.0) as client:
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
        assert huge.status_code == 413
        metrics = client.get("/metrics").text
        assert 'feedrank_http_requests_total{method="POST",route="/rank",status="200"} 1' in metrics


def _refusal(model_dir: Path) -> subprocess.CompletedProcess[str]:
    process = uvicorn(model_dir, free_port())
    stdout, stderr = process.communicate(timeout=START_TIMEOUT_S)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    reasons = [line for line in result.stderr.splitlines() if "feedrank cannot start" in line]
    assert len(reasons) == 1, result.stderr
    for needle in needles:
        assert needle in reasons[0]


def test_missing_model_dir_refuses_to_start(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-models"
    _assert_one_clear_line(_refusal(missing), str(missing), "does not exist")


def test_corrupt_model_refuses_to_start(api_model_dir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "models"
    shutil.copytree(api_model_dir, corrupt)
    with (corrupt / MODEL_FILE).open("ab") as handle:
        handle.write(b"tampered")
    _assert_one_clear_line(_refusal(corrupt), str(corrupt / MODEL_FILE), "does not match")
