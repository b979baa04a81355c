"""POST /rank/ids through FastAPI's TestClient, reading a real Feast store (SQLite, 2,000 posts):
the same ranking as /rank with the full posts, 422 for unknown ids and malformed id lists, 503
with ``Retry-After`` when the store cannot answer, and the store's own timing and histogram.
Whole processes against SQLite and Redis, and Redis stopped, stalled and restarted under load,
are in tests/system/test_feature_store.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.payloads import load_posts
from serving.app import create_app
from serving.settings import Settings
from tests.support.api import error_of, rank

UNKNOWN_IDS = [10**12, 10**12 + 7]


@pytest.fixture(scope="module")
def stored_posts(store_csv: Path) -> list[dict[str, Any]]:
    return load_posts(store_csv)


@pytest.fixture(scope="module")
def client(api_model_dir: Path, sqlite_store: Path) -> Iterator[TestClient]:
    app = create_app(Settings(model_dir=api_model_dir, feature_store=sqlite_store, store_timeout=5))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def store_reads(client: TestClient, outcome: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "feedrank_store_read_seconds_count" and sample.labels == {
                "outcome": outcome
            }:
                return float(sample.value)
    return 0.0


def test_rank_ids_ranks_as_rank_does_with_the_full_posts(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    posts = stored_posts[:20]
    response = client.post("/rank/ids", json={"post_ids": [post["post_id"] for post in posts]})
    assert response.status_code == 200, response.text
    assert response.json() == rank(client, {"posts": posts})
    stages = [part.split(";")[0] for part in response.headers["server-timing"].split(", ")]
    assert stages == ["store", "validate", "featurise", "predict", "serialise"]


def test_each_read_lands_in_the_store_histogram(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    before = store_reads(client, "ok")
    client.post("/rank/ids", json={"post_ids": [stored_posts[0]["post_id"]]})
    assert store_reads(client, "ok") == before + 1


def test_unknown_ids_are_refused_by_name(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    ids = [stored_posts[0]["post_id"], *UNKNOWN_IDS]
    error = error_of(client.post("/rank/ids", json={"post_ids": ids}), 422)
    assert error.error == "unknown_post_id"
    assert str(UNKNOWN_IDS[0]) in error.message and str(UNKNOWN_IDS[1]) in error.message
    assert [(d.item, d.input, d.loc) for d in error.details] == [
        (1, UNKNOWN_IDS[0], ["body", "post_ids", 1]),
        (2, UNKNOWN_IDS[1], ["body", "post_ids", 2]),
    ]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"post_ids": []}, "too_short"),
        ({"post_ids": list(range(21))}, "too_long"),
        ({"post_ids": ["1"]}, "int_type"),
        ({"post_ids": [1.5]}, "int_type"),
        ({"post_ids": [True]}, "int_type"),
        ({"post_ids": [-1]}, "greater_than_equal"),
        ({"post_ids": [3, 4, 3]}, "duplicate_post_id"),
        ({"post_ids": "1,2"}, "list_type"),
        ({"ids": [1]}, "missing"),
        ({"post_ids": [1], "posts": []}, "extra_forbidden"),
        ([1, 2], "dict_type"),
    ],
)
def test_malformed_id_lists_are_422(client: TestClient, body: Any, kind: str) -> None:
    error = error_of(client.post("/rank/ids", json=body), 422)
    assert kind in {detail.type for detail in error.details}, error


def test_a_repeated_key_is_refused_as_on_rank(client: TestClient) -> None:
    body = b'{"post_ids": [1], "post_ids": [2]}'
    response = client.post("/rank/ids", content=body, headers={"content-type": "application/json"})
    assert error_of(response, 422).details[0].type == "duplicate_key"


def test_ready_reports_the_store(client: TestClient) -> None:
    assert client.get("/ready").json()["feature_store"] == "ok"


def test_a_store_past_its_deadline_is_503_and_rank_still_serves(
    api_model_dir: Path, sqlite_store: Path, stored_posts: list[dict[str, Any]]
) -> None:
    settings = Settings(model_dir=api_model_dir, feature_store=sqlite_store, store_timeout=1e-6)
    with TestClient(create_app(settings), raise_server_exceptions=False) as slow:
        response = slow.post("/rank/ids", json={"post_ids": [stored_posts[0]["post_id"]]})
        error = error_of(response, 503)
        assert error.error == "store_unavailable" and "within 1e-06 s" in error.message
        assert response.headers["retry-after"] == "1"
        assert store_reads(slow, "timeout") == 1
        assert slow.get("/ready").json()["feature_store"] != "ok"
        rank(slow, {"posts": stored_posts[:3]})


def test_a_store_that_cannot_open_is_503_and_rank_still_serves(
    api_model_dir: Path, tmp_path: Path, stored_posts: list[dict[str, Any]]
) -> None:
    missing = tmp_path / "feature_store.yaml"
    with TestClient(
        create_app(Settings(model_dir=api_model_dir, feature_store=missing)),
        raise_server_exceptions=False,
    ) as unopened:
        response = unopened.post("/rank/ids", json={"post_ids": [1]})
        error = error_of(response, 503)
        assert error.error == "store_unavailable" and str(missing) in error.message
        assert response.headers["retry-after"] == "1"
        ready = unopened.get("/ready")
        assert ready.status_code == 200 and str(missing) in ready.json()["feature_store"]
        rank(unopened, {"posts": stored_posts[:3]})
