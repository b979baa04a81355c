"""The error body (``serving/errors.py``): every refusal, from the framework or the service,
has the documented shape, and a bug leaks nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.errors import MAX_DETAILS, MAX_INPUT_CHARS, details_from_errors, summarise
from serving.settings import Settings
from tests.support.api import error_of


def test_unknown_route_and_method_use_the_error_body(api_client: TestClient) -> None:
    assert error_of(api_client.get("/nope"), 404).error == "not_found"
    response = api_client.get("/rank")
    assert error_of(response, 405).error == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert "unmatched" in api_client.get("/metrics").text


def test_a_bug_is_a_500_with_the_error_body_and_no_traceback(
    api_model_dir: Path, api_posts: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(model_dir=api_model_dir))
    with TestClient(app, raise_server_exceptions=False) as client:

        def broken(slate: object) -> None:
            raise RuntimeError("secret internal detail")

        monkeypatch.setattr(app.state.service.rollout, "rank", broken)
        response = client.post("/rank", json=[api_posts[0]])
    error = error_of(response, 500)
    assert error.error == "internal_error"
    assert "secret" not in response.text


def test_details_name_the_item_and_field_and_shorten_long_inputs() -> None:
    long = "x" * (MAX_INPUT_CHARS + 5)
    details = details_from_errors(
        [{"loc": ("body", "posts", 3, "title"), "msg": "too long", "type": "t", "input": long}]
    )
    assert (details[0].item, details[0].field) == (3, "title")
    assert details[0].input == "x" * MAX_INPUT_CHARS + "..."
    assert summarise(details).startswith("1 problem in the request body; first: ")


def test_a_flood_of_errors_is_summarised_with_its_total(api_client: TestClient) -> None:
    # 20 posts that each lack 7 fields: 140 problems
    posts = [{"post_id": index} for index in range(20)]
    error = error_of(api_client.post("/rank", json=posts), 422)
    assert len(error.details) <= MAX_DETAILS
    assert error.message.split()[0].isdigit()
    assert int(error.message.split()[0]) > len(error.details)
