"""Plain helpers for the in-process API tests (their fixtures are in ``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def rank(client: TestClient, body: Any) -> dict[str, Any]:
    """POSTs a JSON body to /rank and returns the 200 response's JSON."""
    response = client.post("/rank", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
