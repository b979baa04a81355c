"""Plain helpers for the in-process API tests (their fixtures are in ``tests/conftest.py``)."""

from __future__ import annotations

import copy
from typing import Any, Final

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.errors import ErrorBody


def rank(client: TestClient, body: Any) -> dict[str, Any]:
    """POSTs a JSON body to /rank and returns the 200 response's JSON."""
    response = client.post("/rank", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def metric(client: TestClient, name: str) -> float:
    """The unlabelled sample ``name`` in /metrics, read with prometheus_client's own parser."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    raise AssertionError(f"{name} not exposed")


def error_of(response: Any, status: int) -> ErrorBody:
    """Asserts the status and the one error shape, and returns the parsed body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return ErrorBody.model_validate(response.json())


DROP: Final = object()
"""A value for ``edited_post`` that removes the field."""


def edited_post(posts: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """A copy of ``posts[0]`` with ``changes`` applied (``DROP`` removes a field)."""
    post = copy.deepcopy(posts[0])
    for key, value in changes.items():
        if value is DROP:
            del post[key]
        else:
            post[key] = value
    return post
