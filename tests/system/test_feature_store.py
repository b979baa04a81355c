"""/rank/ids in whole processes: ``python -m serving`` reading from Feast's own feature server
(``feast serve``) on a store in SQLite and in a real ``redis-server``. For every post of a
2,000-row sample (100 requests of 20 ids) it scores as /rank does with the full post. A feature
server or Redis killed or stalled under load gives only 503 ``store_unavailable`` with
``Retry-After`` (no 500, the process stays up), /rank keeps serving, /ready names the cause, and
/rank/ids recovers once the feature server or Redis is back, without restarting the service.
``make serve`` runs both processes, serves /rank without a filled store, and stops both on
SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.payloads import load_posts
from serving.feature_store import FILL_COMMAND
from tests.support import ROOT
from tests.support.feature_stores import (
    REDIS_ADDRESS_VARIABLE,
    REDIS_CONFIG,
    SQLITE_CONFIG,
    FeatureServer,
    Redis,
    feature_server_command,
    filled_store,
    needs_redis,
    start_feature_server,
    start_redis,
)
from tests.support.server import STOPPED, MakeServe, Server, free_port, start_server

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


@pytest.fixture(scope="module")
def redis_feature_server(
    redis_server: Redis, redis_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeatureServer]:
    log_dir = tmp_path_factory.mktemp("redis-feature-server")
    server = start_feature_server(
        redis_store, log_dir, **{REDIS_ADDRESS_VARIABLE: redis_server.address}
    )
    yield server
    server.stop()


def serve(model_dir: Path, log_dir: Path, feature_server: FeatureServer) -> Server:
    """``python -m serving`` reading from ``feature_server``, once /ready says it answers."""
    server = start_server(
        model_dir, log_dir, feature_server=feature_server.url, store_timeout=STORE_TIMEOUT
    ).started()
    wait_for_store(server)
    return server


def wait_for_store(server: Server, within: float = 60.0) -> None:
    """/ready reports the feature server ``ok``; /ready itself answers 200 throughout."""
    deadline = time.monotonic() + within
    while True:
        ready = httpx.get(f"{server.url}/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        if ready.json()["feature_store"] == "ok":
            return
        assert time.monotonic() < deadline, f"store not ok in {within:.0f} s: {ready.text}"
        time.sleep(0.5)


def stop(server: Server) -> None:
    """SIGTERM; the service ends its requests and exits by that signal, which uvicorn re-raises
    once it has shut down."""
    assert server.terminate() == STOPPED, server.log()


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
    sqlite_feature_server: FeatureServer,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    assert len(stored_posts) == 2_000
    server = serve(api_model_dir, tmp_path, sqlite_feature_server)
    try:
        assert_scores_equal_rank(server, stored_posts)
    finally:
        stop(server)


@needs_redis
def test_redis_store_scores_every_post_as_rank_does(
    api_model_dir: Path,
    redis_feature_server: FeatureServer,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    server = serve(api_model_dir, tmp_path, redis_feature_server)
    try:
        assert_scores_equal_rank(server, stored_posts)
    finally:
        stop(server)


@dataclass
class Load:
    """/rank/ids from a few threads until stopped: every status seen, and the 503s that are
    not ``store_unavailable`` with ``Retry-After``."""

    url: str
    ids: list[int]
    stop: threading.Event
    statuses: list[int] = field(default_factory=list)
    odd_503s: list[str] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                response = client.post("/rank/ids", json={"post_ids": self.ids})
                self.statuses.append(response.status_code)
                if response.status_code == 503 and (
                    "retry-after" not in response.headers
                    or response.json()["error"] != "store_unavailable"
                ):
                    self.odd_503s.append(response.text)


def during_fault(
    server: Server,
    posts: list[dict[str, Any]],
    fault: Callable[[], None],
    recover: Callable[[], None],
) -> list[int]:
    """Statuses of /rank/ids under load while ``fault()`` holds for 3 s, then ``recover()``;
    in the meantime /rank answers 200 and /ready 200 naming the feature store's trouble."""
    stop = threading.Event()
    ids = [post["post_id"] for post in posts[:SLATE]]
    loads = [Load(server.url, ids, stop) for _ in range(LOAD_THREADS)]
    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        running = [pool.submit(load.run) for load in loads]
        try:
            time.sleep(1.0)
            fault()
            time.sleep(1.5)
            rank = httpx.post(f"{server.url}/rank", json={"posts": posts[:SLATE]}, timeout=30)
            assert rank.status_code == 200, rank.text
            ready = httpx.get(f"{server.url}/ready", timeout=30)
            assert ready.status_code == 200 and ready.json()["feature_store"] != "ok", ready.text
            time.sleep(1.5)
        finally:
            stop.set()
            for future in running:
                future.result()
    recover()
    assert [text for load in loads for text in load.odd_503s] == []
    return [status for load in loads for status in load.statuses]


def recovers(server: Server, ids: list[int], within: float = 60.0) -> None:
    """/rank/ids answers 200 again and /ready reports ``ok``, the same process throughout."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.post(f"{server.url}/rank/ids", json={"post_ids": ids}, timeout=30)
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"no recovery in {within:.0f} s: {response.text}"
        time.sleep(0.5)
    assert server.process.poll() is None
    wait_for_store(server)


def check_fault(
    server: Server,
    posts: list[dict[str, Any]],
    fault: Callable[[], None],
    recover: Callable[[], None],
) -> None:
    try:
        statuses = during_fault(server, posts, fault, recover)
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert 503 in statuses and server.process.poll() is None
        recovers(server, [post["post_id"] for post in posts[:SLATE]])
    finally:
        stop(server)
    assert "Traceback" not in server.log()


@pytest.mark.faults
@pytest.mark.parametrize("fault", ["killed", "stalled"])
def test_feature_server_down_under_load_gives_503s_then_recovers(
    api_model_dir: Path,
    sqlite_store: Path,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
    fault: str,
) -> None:
    feature_server = start_feature_server(sqlite_store, tmp_path)
    try:
        server = serve(api_model_dir, tmp_path, feature_server)
        if fault == "killed":
            check_fault(server, stored_posts, feature_server.kill, feature_server.start)
        else:
            check_fault(server, stored_posts, feature_server.pause, feature_server.resume)
    finally:
        feature_server.stop()


@needs_redis
@pytest.mark.faults
@pytest.mark.parametrize("fault", ["killed", "stalled"])
def test_redis_down_under_load_gives_503s_then_recovers(
    api_model_dir: Path,
    redis_server: Redis,
    redis_feature_server: FeatureServer,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
    fault: str,
) -> None:
    server = serve(api_model_dir, tmp_path, redis_feature_server)
    if fault == "killed":
        check_fault(server, stored_posts, redis_server.kill, redis_server.start)
    else:
        check_fault(server, stored_posts, redis_server.pause, redis_server.resume)


# --- make serve ---------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = [int(child) for child in found.split()]
    return [*children, *(grandchild for child in children for grandchild in descendants(child))]


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")


def stopped_by(server: Server, number: signal.Signals, to_group: bool) -> None:
    """``number`` to make (or to its whole group, as Ctrl-C sends it): make, supervisord, the
    service and the feature server all end, and neither port answers any more."""
    below = descendants(server.process.pid)
    if to_group:
        os.killpg(server.process.pid, number)
    else:
        server.process.send_signal(number)
    server.process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in below):
        assert time.monotonic() < deadline, [command_line(p) for p in below]
        time.sleep(0.1)


def test_make_serve_runs_both_and_sigint_stops_both(
    api_model_dir: Path,
    sqlite_store: Path,
    stored_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    command = MakeServe(free_port(), sqlite_store)
    server = start_server(api_model_dir, tmp_path, command=command).started()
    try:
        wait_for_store(server)
        ids = [post["post_id"] for post in stored_posts[:SLATE]]
        assert httpx.post(f"{server.url}/rank/ids", json={"post_ids": ids}).status_code == 200
        assert httpx.post(f"{server.url}/rank", json={"posts": stored_posts[:3]}).status_code == 200
        # feast is a script: its interpreter comes first on the command line
        expected = feature_server_command(sqlite_store, command.feature_port)
        lines = [command_line(pid) for pid in descendants(server.process.pid)]
        assert any(line[1:] == expected for line in lines), lines
    finally:
        stopped_by(server, signal.SIGINT, to_group=True)
    for url in (server.url, f"http://127.0.0.1:{command.feature_port}"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health")


def test_make_serve_without_a_filled_store_serves_rank_and_sigterm_stops_both(
    api_model_dir: Path, api_posts: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An empty store (nothing registered): /rank/ids says how to fill it, /rank serves."""
    config = tmp_path / "feature_repo" / SQLITE_CONFIG
    config.parent.mkdir()
    (tmp_path / "data" / "feast").mkdir(parents=True)
    config.write_bytes((ROOT / "feature_repo" / SQLITE_CONFIG).read_bytes())
    command = MakeServe(free_port(), config)
    server = start_server(api_model_dir, tmp_path, command=command).started()
    try:
        assert httpx.post(f"{server.url}/rank", json={"posts": api_posts[:3]}).status_code == 200
        deadline = time.monotonic() + 60
        while FILL_COMMAND not in (reason := httpx.get(f"{server.url}/ready").text):
            assert time.monotonic() < deadline, reason  # the feature server is still starting
            time.sleep(0.5)
        response = httpx.post(f"{server.url}/rank/ids", json={"post_ids": [1]})
        assert response.status_code == 503 and FILL_COMMAND in response.json()["message"]
    finally:
        stopped_by(server, signal.SIGTERM, to_group=False)
