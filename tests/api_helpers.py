"""Plain helpers shared by the API tests (fixtures live in ``tests.serving_fixtures``)."""

from __future__ import annotations

import socket
from typing import Any

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
