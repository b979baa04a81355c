"""The topology as ``make stack`` runs it from deploy/ (HAProxy, two replicas, Feast's feature
server, Redis): what it prints, how HAProxy routes and sheds, and what a dead replica or a
stopped Redis costs a client. ``make stack-bench`` measures the same under load."""

from __future__ import annotations

import csv
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from benchmarks import raw_http
from benchmarks.edge import statuses
from benchmarks.stack import limits, proxy_figures
from serving.errors import ErrorBody
from tests.support import ROOT
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e
PARTS = {"proxy", "replica-1", "replica-2", "feature-server", "redis", "supervisord"}
JSON = {"content-type": "application/json"}
# generous: a loaded 2-core machine restarts a replica in seconds, not in this long
RECOVERY_S = 90.0


def rank_requests(url: str) -> int:
    """POST /rank requests a replica has counted, whatever their status."""
    return sum(
        n for (route, method, _), n in statuses(url).items() if (route, method) == ("/rank", "POST")
    )


def error_of(response: httpx.Response, status: int, code: str) -> ErrorBody:
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate(response.json())
    assert (body.status, body.error) == (status, code), body
    return body


def eventually(check: Callable[[], bool], timeout: float = RECOVERY_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def answers_200(url: str, path: str, body: Any) -> bool:
    try:
        return httpx.post(f"{url}{path}", json=body, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def store_posts(count: int = 20) -> list[dict[str, Any]]:
    """The first posts of data/posts.csv, which the stack's Redis holds, typed as /rank takes
    them."""
    integers = ("post_id", "score", "num_comments", "author_karma")
    floats = ("upvote_ratio", "post_age_hours")
    with (ROOT / "data" / "posts.csv").open(newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]
    return [
        {"title": row["title"], "subreddit": row["subreddit"]}
        | {name: int(float(row[name])) for name in integers}
        | {name: float(row[name]) for name in floats}
        for row in rows
    ]


def test_make_stack_printed_the_front_door_and_each_running_part(stack: RunningStack) -> None:
    assert stack.url == f"http://127.0.0.1:{stack.stack.port}"
    parts = {part["name"]: part["pid"] for part in stack.printed["components"]}
    assert set(parts) == PARTS
    for pid in parts.values():
        os.kill(pid, 0)  # alive
    assert httpx.get(f"{stack.url}/ready", timeout=10.0).status_code == 200


def test_requests_are_spread_over_both_replicas(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    before = [rank_requests(stack.replica(n)) for n in (1, 2)]
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        answered = [
            client.post("/rank", json={"posts": api_posts[:20]}).status_code for _ in range(40)
        ]
    after = [rank_requests(stack.replica(n)) for n in (1, 2)]
    assert answered == [200] * 40
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_rank_ids_scores_as_rank_through_the_front_door(stack: RunningStack) -> None:
    posts = store_posts()
    by_fields = httpx.post(f"{stack.url}/rank", json={"posts": posts}, timeout=30.0)
    by_ids = httpx.post(
        f"{stack.url}/rank/ids", json={"post_ids": [p["post_id"] for p in posts]}, timeout=30.0
    )
    assert (by_fields.status_code, by_ids.status_code) == (200, 200), by_ids.text
    scores = {item["post_id"]: item["score"] for item in by_fields.json()["ranked"]}
    for item in by_ids.json()["ranked"]:
        assert abs(item["score"] - scores[item["post_id"]]) <= 1e-12, item


def test_a_request_that_would_wait_past_the_budget_gets_503_with_the_error_body(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    """Every replica slot is held by an upload larger than HAProxy's buffer that stalls (so it
    reaches a replica, which waits for the rest): the next request waits `timeout queue` for
    a slot and is answered 503 by HAProxy, with the service's error body and Retry-After."""
    found = limits()
    slots = int(found["maxconn_per_replica"]) * 2
    head = raw_http.request_head(
        "POST", "/rank", ["Content-Type: application/json", "Content-Length: 200000"]
    )
    start = b"[" + b" " * (int(found["bufsize"]) + 4096)
    holders = [raw_http.connect(stack.url, head + start) for _ in range(slots)]
    try:
        assert eventually(lambda: proxy_figures(stack.monitor)["busy"] >= slots, 10.0)
        response = httpx.post(f"{stack.url}/rank", json={"posts": api_posts[:20]}, timeout=10.0)
    finally:
        for sock in holders:
            sock.close()
    error_of(response, 503, "overloaded")
    assert response.headers["retry-after"] == "1"
    assert eventually(lambda: answers_200(stack.url, "/rank", {"posts": api_posts[:20]}), 30.0)


def test_a_killed_replica_costs_no_request_and_comes_back(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    supervisor = stack.supervisor()
    pid = int(supervisor.getProcessInfo("replica-1")["pid"])
    os.kill(pid, signal.SIGKILL)
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        answered = [
            client.post("/rank", json={"posts": api_posts[:20]}).status_code for _ in range(50)
        ]
    assert answered == [200] * 50  # retried on replica-2, or sent there in the first place
    assert eventually(lambda: int(supervisor.getProcessInfo("replica-1")["pid"]) not in (0, pid))
    assert eventually(lambda: "replica-1" in proxy_figures(stack.monitor)["up"]), stack.log(
        "replica-1"
    )
    before = rank_requests(stack.replica(1))
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        for _ in range(20):
            assert client.post("/rank", json={"posts": api_posts[:20]}).status_code == 200
    assert rank_requests(stack.replica(1)) > before  # back in rotation


def test_a_stopped_redis_is_503_store_unavailable_on_rank_ids_only(
    stack: RunningStack, api_posts: list[dict[str, Any]]
) -> None:
    supervisor = stack.supervisor()
    ids = {"post_ids": [post["post_id"] for post in store_posts()]}
    supervisor.stopProcess("redis")
    try:
        with httpx.Client(base_url=stack.url, timeout=30.0) as client:
            by_ids = [client.post("/rank/ids", json=ids) for _ in range(5)]
            by_fields = [client.post("/rank", json={"posts": api_posts[:20]}) for _ in range(5)]
    finally:
        supervisor.startProcess("redis")
    for response in by_ids:
        error_of(response, 503, "store_unavailable")
        assert response.headers["retry-after"] == "1"
    assert [response.status_code for response in by_fields] == [200] * 5
    assert eventually(lambda: answers_200(stack.url, "/rank/ids", ids)), stack.log("feature-server")
