"""Plain helpers shared by the API tests (fixtures live in ``tests.serving_fixtures``)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

MODEL_VERSION = "api-test"


def rank(client: TestClient, body: Any) -> dict[str, Any]:
    """POSTs a JSON body to /rank and returns the 200 response's JSON."""
    response = client.post("/rank", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(
    process: subprocess.Popen[str], url: str, timeout: float, log: Callable[[], str]
) -> None:
    """Polls ``/ready`` until it answers 200; fails the test if the process dies or stalls."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited early ({process.returncode}): {log()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready after {timeout:.0f} s: {log()}")
        time.sleep(0.2)
