"""POST /rank/ids and its store (serving/feature_store.py).

``PostStore`` against an in-process ``httpx.MockTransport`` playing Feast's feature server: the
answer turned into columns in the ids' order with their JSON types, and every failure mapped to
its error (422 for unknown ids, 503 with ``Retry-After`` otherwise, a 404 naming the command
that fills the store) and its outcome in /metrics; against a port nothing listens on: refused.
Then the app through FastAPI's TestClient, reading from a real ``feast serve`` on SQLite
(2,000 posts): the same ranking as /rank with the full posts, 422s for unknown ids and malformed
id lists, 503 when the feature server is down or misses the deadline while /rank serves on.
Whole processes, Redis and faults under load are in tests/system/test_feature_store.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.payloads import load_posts
from features.schema import FEATURE_REFS, ID_COLUMN, INTEGER_COLUMNS, POST_FIELDS
from serving.app import create_app
from serving.errors import ApiError
from serving.feature_store import FILL_COMMAND, ONLINE_FEATURES_PATH, PostStore
from serving.settings import Settings
from tests.support.api import error_of, rank
from tests.support.feature_stores import FeatureServer
from tests.support.server import free_port

UNKNOWN_IDS = [10**12, 10**12 + 7]
BASE_URL = "http://feature-server.test"
T = TypeVar("T")
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]
Observed = list[tuple[str, float]]


def answer(ids: list[int], posts: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Feast's ``/get-online-features`` answer for ``ids`` from ``posts``: the entity first, then
    the features in an order other than the request's, unknown ids ``NOT_FOUND``."""
    names = [ID_COLUMN, *reversed(POST_FIELDS)]
    results = [{"values": ids, "statuses": ["PRESENT"] * len(ids)}]
    for name in names[1:]:
        values = [posts[i][name] if i in posts else None for i in ids]
        statuses = ["PRESENT" if i in posts else "NOT_FOUND" for i in ids]
        results.append({"values": values, "statuses": statuses})
    return {"metadata": {"feature_names": names}, "results": results}


def feature_server(posts: dict[int, dict[str, Any]], seen: list[Any]) -> Handler:
    """A handler answering as Feast's feature server does, recording each request's JSON."""

    async def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == ONLINE_FEATURES_PATH
        body = orjson.loads(request.content)
        seen.append(body)
        return httpx.Response(200, content=orjson.dumps(answer(body["entities"][ID_COLUMN], posts)))

    return handle


def store_over(handler: Handler, timeout: float = 1.0) -> tuple[PostStore, Observed]:
    observed: Observed = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE_URL)
    return PostStore(client, timeout, lambda *read: observed.append(read)), observed


def closing(store: PostStore, call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` run to its end, then the store closed, as the app's lifespan closes it."""

    async def go() -> T:
        try:
            return await call()
        finally:
            await store.close()

    return asyncio.run(go())


def read(store: PostStore, ids: list[int]) -> tuple[dict[str, list[Any]], float]:
    return closing(store, lambda: store.read(ids))


def refused(store: PostStore, ids: list[int], status: int) -> ApiError:
    with pytest.raises(ApiError) as caught:
        read(store, ids)
    assert caught.value.status == status, caught.value.message
    return caught.value


def post(post_id: int) -> dict[str, Any]:
    return {
        "title": f"post {post_id}",
        "subreddit": "science",
        "score": 10 + post_id,
        "num_comments": 3,
        "upvote_ratio": 1.0,
        "post_age_hours": 2.5,
        "author_karma": 1_000,
    }


POSTS = {7: post(7), 3: post(3), 11: post(11)}


def test_a_read_gives_columns_in_the_ids_order_with_their_json_types() -> None:
    seen: list[Any] = []
    store, observed = store_over(feature_server(POSTS, seen))
    ids = [11, 3, 7]
    columns, seconds = read(store, ids)
    assert seen == [{"features": list(FEATURE_REFS), "entities": {ID_COLUMN: ids}}]
    assert list(columns) == list(POST_FIELDS)
    for field in POST_FIELDS:
        assert columns[field] == [POSTS[i][field] for i in ids], field
    for field in INTEGER_COLUMNS:
        if field in columns:
            assert all(type(value) is int for value in columns[field]), field
    assert all(type(value) is float for value in columns["upvote_ratio"])
    assert observed == [("ok", seconds)] and seconds > 0


def test_ids_the_store_lacks_are_422_listing_them() -> None:
    store, observed = store_over(feature_server(POSTS, []))
    error = refused(store, [7, UNKNOWN_IDS[0], 3, UNKNOWN_IDS[1]], 422)
    assert error.error == "unknown_post_id"
    assert str(UNKNOWN_IDS[0]) in error.message and str(UNKNOWN_IDS[1]) in error.message
    assert [(d.item, d.input, d.loc) for d in error.details] == [
        (1, UNKNOWN_IDS[0], ["body", "post_ids", 1]),
        (3, UNKNOWN_IDS[1], ["body", "post_ids", 3]),
    ]
    assert [outcome for outcome, _ in observed] == ["unknown"]


def test_a_null_value_marked_present_is_an_id_the_store_lacks() -> None:
    """Feast's Redis store answers an id it never held with null values marked PRESENT."""

    async def handle(request: httpx.Request) -> httpx.Response:
        ids = orjson.loads(request.content)["entities"][ID_COLUMN]
        known = answer(ids, POSTS)
        for vector in known["results"][1:]:
            vector["statuses"] = ["PRESENT"] * len(ids)
        return httpx.Response(200, content=orjson.dumps(known))

    store, _ = store_over(handle)
    error = refused(store, [7, UNKNOWN_IDS[0]], 422)
    assert (error.error, [d.input for d in error.details]) == ("unknown_post_id", [UNKNOWN_IDS[0]])


def unavailable(store: PostStore, observed: Observed, outcome: str) -> str:
    """The 503 a read gets, checked for its code, Retry-After and the outcome in /metrics."""
    error = refused(store, [7], 503)
    assert error.error == "store_unavailable" and error.headers == {"Retry-After": "1"}
    assert [kind for kind, _ in observed] == [outcome]
    return error.message


def test_a_feature_server_nobody_listens_for_is_503() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    observed: Observed = []
    store = PostStore.open(url, 1.0, lambda *read: observed.append(read))
    message = unavailable(store, observed, "error")
    assert url in message and "ConnectError" in message


def test_a_read_past_the_deadline_is_503_within_it() -> None:
    async def stalled(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    store, observed = store_over(stalled, timeout=0.05)
    assert "no answer within 0.05 s" in unavailable(store, observed, "timeout")
    assert observed[0][1] < 1


def test_a_store_without_the_post_features_says_how_to_fill_it() -> None:
    async def unregistered(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json="Feature view post_features does not exist")

    store, observed = store_over(unregistered)
    assert f"`{FILL_COMMAND}`" in unavailable(store, observed, "error")


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (500, b'"RedisError"', "answered 500"),
        (200, b"not json", "answered no features"),
        (200, orjson.dumps({"results": []}), "answered no features"),
        (200, orjson.dumps(answer([7], POSTS) | {"metadata": {"feature_names": []}}), "other"),
        (200, orjson.dumps(answer([7, 3], POSTS)), "other features"),
    ],
    ids=["server-error", "not-json", "no-metadata", "unnamed-features", "other-rows"],
)
def test_an_answer_that_is_not_the_posts_features_is_503(
    status: int, content: bytes, expected: str
) -> None:
    async def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    store, observed = store_over(broken)
    assert expected in unavailable(store, observed, "error")


def test_status_is_ok_or_why_reads_fail() -> None:
    store, observed = store_over(feature_server(POSTS, []))
    assert closing(store, store.status) == "ok"
    down = PostStore.open(f"http://127.0.0.1:{free_port()}", 1.0, lambda *read: None)
    assert "cannot be reached" in closing(down, down.status)
    assert observed == []  # /ready's probes are not /rank/ids reads


# --- the app, in process ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_posts(store_csv: Path) -> list[dict[str, Any]]:
    return load_posts(store_csv)


@pytest.fixture(scope="module")
def client(api_model_dir: Path, sqlite_feature_server: FeatureServer) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=api_model_dir, feature_server=sqlite_feature_server.url, store_timeout=5
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def storeless(api_model_dir: Path) -> Iterator[TestClient]:
    """The app pointed at a port nothing listens on."""
    settings = Settings(model_dir=api_model_dir, feature_server=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def store_reads(client: TestClient, outcome: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "feedrank_store_read_seconds_count" and sample.labels == {
                "outcome": outcome
            }:
                return float(sample.value)
    return 0.0


@pytest.mark.e2e
def test_rank_ids_ranks_as_rank_does_with_the_full_posts(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    posts = stored_posts[:20]
    response = client.post("/rank/ids", json={"post_ids": [post["post_id"] for post in posts]})
    assert response.status_code == 200, response.text
    assert response.json() == rank(client, {"posts": posts})
    stages = [part.split(";")[0] for part in response.headers["server-timing"].split(", ")]
    assert stages == ["store", "validate", "featurise", "predict", "serialise"]


@pytest.mark.e2e
def test_each_read_lands_in_the_store_histogram(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    before = store_reads(client, "ok")
    client.post("/rank/ids", json={"post_ids": [stored_posts[0]["post_id"]]})
    assert store_reads(client, "ok") == before + 1


@pytest.mark.e2e
def test_unknown_ids_are_refused_by_name(
    client: TestClient, stored_posts: list[dict[str, Any]]
) -> None:
    ids = [stored_posts[0]["post_id"], *UNKNOWN_IDS]
    error = error_of(client.post("/rank/ids", json={"post_ids": ids}), 422)
    assert error.error == "unknown_post_id"
    assert [(d.item, d.input) for d in error.details] == [(1, UNKNOWN_IDS[0]), (2, UNKNOWN_IDS[1])]


@pytest.mark.e2e
def test_ready_reports_the_feature_server(client: TestClient) -> None:
    assert client.get("/ready").json()["feature_store"] == "ok"


@pytest.mark.e2e
def test_a_read_past_its_deadline_is_503_and_rank_still_serves(
    api_model_dir: Path,
    sqlite_feature_server: FeatureServer,
    stored_posts: list[dict[str, Any]],
) -> None:
    settings = Settings(
        model_dir=api_model_dir, feature_server=sqlite_feature_server.url, store_timeout=1e-6
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as slow:
        response = slow.post("/rank/ids", json={"post_ids": [stored_posts[0]["post_id"]]})
        error = error_of(response, 503)
        assert error.error == "store_unavailable" and "within 1e-06 s" in error.message
        assert response.headers["retry-after"] == "1"
        assert store_reads(slow, "timeout") == 1
        assert slow.get("/ready").json()["feature_store"] != "ok"
        rank(slow, {"posts": stored_posts[:3]})


def test_a_feature_server_down_is_503_and_rank_still_serves(
    storeless: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    response = storeless.post("/rank/ids", json={"post_ids": [1]})
    error = error_of(response, 503)
    assert error.error == "store_unavailable" and "cannot be reached" in error.message
    assert response.headers["retry-after"] == "1"
    ready = storeless.get("/ready")
    assert ready.status_code == 200 and "cannot be reached" in ready.json()["feature_store"]
    rank(storeless, {"posts": api_posts[:3]})


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
def test_malformed_id_lists_are_422_before_any_read(
    storeless: TestClient, body: Any, kind: str
) -> None:
    error = error_of(storeless.post("/rank/ids", json=body), 422)
    assert kind in {detail.type for detail in error.details}, error


def test_a_repeated_key_is_refused_as_on_rank(storeless: TestClient) -> None:
    body = b'{"post_ids": [1], "post_ids": [2]}'
    headers = {"content-type": "application/json"}
    response = storeless.post("/rank/ids", content=body, headers=headers)
    assert error_of(response, 422).details[0].type == "duplicate_key"
