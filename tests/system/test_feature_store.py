"""/rank/ids in whole ``python -m serving`` processes, on a Feast store in SQLite and in a real
``redis-server``: for every post of a 2,000-row sample it scores as /rank does with the full
post; a Redis killed or stalled under load gives only 503s with ``Retry-After`` (no 500, the
process stays up), and /rank/ids recovers once Redis is back, without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.payloads import load_posts
from tests.support.feature_stores import (
    REDIS_ADDRESS_VARIABLE,
    REDIS_CONFIG,
    Redis,
    filled_store,
    needs_redis,
    start_redis,
)
from tests.support.server import Server, start_server

pytestmark = pytest.mark.e2e
SLATE = 20
TOLERANCE = 1e-12
# generous: the deadline under test is the store's, not the machine's speed
STORE_TIMEOUT = "0.5"
LOAD_THREADS = 4


@pytest.fixture(scope="module")
def stored_posts(store_csv: Path) -> list[dict[str, Any]]:
    return load_posts(store_csv)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.resume()
    server.kill()


@pytest.fixture(scope="module")
def redis_store(
    redis_server: Redis, store_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``store_csv`` materialized into Redis, and saved to its data file for restarts."""
    config = filled_store(
        store_csv, tmp_path_factory.mktemp("redis-store"), REDIS_CONFIG, redis_server.address
    )
    redis_server.client().save()
    return config


def serve(model_dir: Path, log_dir: Path, config: Path, redis: Redis | None = None) -> Server:
    variables = {REDIS_ADDRESS_VARIABLE: redis.address} if redis is not None else {}
    return start_server(
        model_dir,
        log_dir,
        feature_store=str(config),
        store_timeout=STORE_TIMEOUT,
        **variables,
    ).started()


def assert_scores_equal_rank(server: Server, posts: list[dict[str, Any]]) -> None:
    """Every post, in slates of 20: /rank/ids and /rank give each the same score."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for start in range(0, len(posts), SLATE):
            slate = posts[start : start + SLATE]
            ids = client.post("/rank/ids", json={"post_ids": [p["post_id"] for p in slate]})
            full = client.post("/rank", json={"posts": slate})
            assert ids.status_code == full.status_code == 200, (ids.text, full.text)
            by_ids = {item["post_id"]: item["score"] for item in ids.json()["ranked"]}
            by_posts = {item["post_id"]: item["score"] for item in full.json()["ranked"]}
            assert by_ids.keys() == by_posts.keys()
            for post_id, score in by_posts.items():
                assert abs(by_ids[post_id] - score) <= TOLERANCE, post_id


def test_sqlite_store_scores_every_post_as_rank_does(
    api_model_dir: Path,
    sqlite_store: Path,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    server = serve(api_model_dir, tmp_path, sqlite_store)
    try:
        assert_scores_equal_rank(server, stored_posts)
    finally:
        assert server.terminate() == 0, server.log()


@needs_redis
def test_redis_store_scores_every_post_as_rank_does(
    api_model_dir: Path,
    redis_server: Redis,
    redis_store: Path,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    server = serve(api_model_dir, tmp_path, redis_store, redis_server)
    try:
        assert httpx.get(f"{server.url}/ready").json()["feature_store"] == "ok"
        assert_scores_equal_rank(server, stored_posts)
    finally:
        assert server.terminate() == 0, server.log()


@dataclass
class Load:
    """/rank/ids from a few threads until stopped: every status seen, and 503s without
    ``Retry-After``."""

    url: str
    ids: list[int]
    stop: threading.Event
    statuses: list[int]
    bare_503s: int = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                response = client.post("/rank/ids", json={"post_ids": self.ids})
                self.statuses.append(response.status_code)
                if response.status_code == 503 and "retry-after" not in response.headers:
                    self.bare_503s += 1


def under_load(server: Server, ids: list[int], fault: Any, recover: Any) -> list[int]:
    """Statuses of /rank/ids under load while ``fault()`` runs for 3 s, then ``recover()``."""
    loads = [Load(server.url, ids, threading.Event(), []) for _ in range(LOAD_THREADS)]
    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        running = [pool.submit(load.run) for load in loads]
        time.sleep(1.0)
        fault()
        time.sleep(3.0)
        for load in loads:
            load.stop.set()
        for future in running:
            future.result()
    recover()
    assert sum(load.bare_503s for load in loads) == 0
    return [status for load in loads for status in load.statuses]


def wait_for_200(server: Server, ids: list[int], within: float = 60.0) -> None:
    """/rank/ids answers 200 again, the same process throughout."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.post(f"{server.url}/rank/ids", json={"post_ids": ids}, timeout=30)
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"no recovery in {within:.0f} s: {response.text}"
        time.sleep(0.5)
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/ready").json()["feature_store"] == "ok"


@needs_redis
@pytest.mark.faults
@pytest.mark.parametrize("fault", ["killed", "stalled"])
def test_redis_down_under_load_gives_503s_then_recovers(
    api_model_dir: Path,
    redis_server: Redis,
    redis_store: Path,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
    fault: str,
) -> None:
    server = serve(api_model_dir, tmp_path, redis_store, redis_server)
    ids = [post["post_id"] for post in stored_posts[:SLATE]]
    try:
        if fault == "killed":
            statuses = under_load(server, ids, redis_server.kill, redis_server.start)
        else:
            statuses = under_load(server, ids, redis_server.pause, redis_server.resume)
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert 503 in statuses and server.process.poll() is None
        assert httpx.get(f"{server.url}/health").status_code == 200
        wait_for_200(server, ids)
    finally:
        assert server.terminate() == 0, server.log()
    assert "Traceback" not in server.log()
