"""Champion/challenger against real ``python -m serving`` processes on 127.0.0.1.

Two independently started servers in ab mode (two replicas) must give each of 1,000 users the
same arm, and each counts in /metrics what it ranked; a shadowing
server must answer byte for byte what a server without a challenger answers; bad settings
must stop start-up with one line.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.payloads import Post
from serving.rollout import in_treatment
from tests.support.bundles import CHALLENGER, CHAMPION, RolloutModels
from tests.support.server import START_TIMEOUT_S, Server, start_server

pytestmark = pytest.mark.e2e

USERS = 1_000
SHARE = 0.5


def _challenger(models: RolloutModels, mode: str, share: float = SHARE) -> dict[str, str]:
    return {
        "challenger_dir": str(models.challenger),
        "challenger_mode": mode,
        "challenger_share": str(share),
    }


@pytest.fixture(scope="module")
def servers(
    rollout_models: RolloutModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Two ab replicas, shadow, and no challenger."""
    logs = tmp_path_factory.mktemp("rollout-logs")
    specs: dict[str, dict[str, str]] = {
        "ab": _challenger(rollout_models, "ab"),
        "ab_replica": _challenger(rollout_models, "ab"),
        "shadow": _challenger(rollout_models, "shadow", 1.0),
        "plain": {},
    }
    running: dict[str, Server] = {}
    try:
        for name, settings in specs.items():
            running[name] = start_server(rollout_models.champion, logs, **settings)
        for server in running.values():
            server.started()
        yield {name: server.url for name, server in running.items()}
    finally:
        for server in running.values():
            server.terminate()


def _samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_ab_assignment_is_stable_across_processes_and_binomial(
    servers: dict[str, str], training_posts: list[Post]
) -> None:
    arms: dict[str, list[str]] = {}
    for name in ("ab", "ab_replica"):
        with httpx.Client(base_url=servers[name], timeout=30) as client:
            arms[name] = [
                client.post(
                    "/rank", json=[training_posts[i]], headers={"X-User-Id": f"user-{i}"}
                ).json()["model_version"]
                for i in range(USERS)
            ]
    assert arms["ab"] == arms["ab_replica"]
    expected = [CHALLENGER if in_treatment(f"user-{i}", CHALLENGER, SHARE) else CHAMPION
                for i in range(USERS)]  # fmt: skip
    assert arms["ab"] == expected
    treated = arms["ab"].count(CHALLENGER)
    # 4 standard deviations of Binomial(1000, 0.5): fails by chance with probability < 1e-4
    assert abs(treated - USERS * SHARE) <= 4 * math.sqrt(USERS * SHARE * (1 - SHARE))
    # each replica counts, per version and role, what it ranked
    assert _samples(servers["ab_replica"], "feedrank_rank_requests_total") == {
        (("role", "challenger"), ("version", CHALLENGER)): treated,
        (("role", "champion"), ("version", CHAMPION)): USERS - treated,
    }


def test_shadow_server_answers_byte_for_byte_like_a_server_without_challenger(
    servers: dict[str, str], training_posts: list[Post]
) -> None:
    rng = random.Random(5)
    slates = [rng.sample(training_posts, rng.randint(1, 20)) for _ in range(100)]
    with (
        httpx.Client(base_url=servers["shadow"], timeout=30) as shadow,
        httpx.Client(base_url=servers["plain"], timeout=30) as plain,
    ):
        for slate in slates:
            expected, actual = plain.post("/rank", json=slate), shadow.post("/rank", json=slate)
            assert (actual.status_code, actual.content) == (expected.status_code, expected.content)
    deadline = time.monotonic() + 10  # the last shadow scoring may still be running
    while True:
        shadowed = _samples(servers["shadow"], "feedrank_shadow_requests_total")
        if shadowed.get((("version", CHALLENGER),)) == len(slates) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert shadowed[(("version", CHALLENGER),)] == len(slates)
    assert not _samples(servers["plain"], "feedrank_shadow_requests_total")


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"challenger_mode": "shadow"}, "set together or not at all"),
        (
            {"challenger_dir": "CHALLENGER", "challenger_mode": "ab"},
            "set together or not at all",
        ),
        (
            {"challenger_dir": "/nonexistent", "challenger_mode": "ab", "challenger_share": "0.1"},
            "challenger: model directory /nonexistent does not exist",
        ),
        (
            {"feature_server": "not a url"},
            "FEEDRANK_FEATURE_SERVER='not a url': must be an http(s) URL",
        ),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(
    rollout_models: RolloutModels, tmp_path: Path, settings: dict[str, str], line: str
) -> None:
    settings = {
        name: str(rollout_models.challenger) if text == "CHALLENGER" else text
        for name, text in settings.items()
    }
    server = start_server(rollout_models.champion, tmp_path, **settings)
    status = server.process.wait(timeout=START_TIMEOUT_S)
    output = server.log()
    assert status != 0
    assert "Traceback" not in output
    cannot = [text for text in output.splitlines() if "feedrank cannot start" in text]
    assert len(cannot) == 1 and line in cannot[0], output
