"""Champion/challenger against real ``python -m serving`` processes on 127.0.0.1.

Two independently started servers in ab mode (one with two workers aggregating their metrics
through ``PROMETHEUS_MULTIPROC_DIR``) must give each of 1,000 users the same arm; a shadowing
server must answer byte for byte what a server without a challenger answers; bad settings
must stop start-up with one line.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bundle.store import MODEL_DIR_ENV
from serving.metrics import FLUSH_SECONDS, MULTIPROC_ENV
from serving.payloads import Post
from serving.rollout import CHALLENGER_DIR_ENV, MODE_ENV, SHARE_ENV, in_treatment

from .api_helpers import free_port, wait_ready
from .rollout_helpers import CHALLENGER, CHAMPION, RolloutModels

pytest_plugins = ["tests.rollout_fixtures"]
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0
USERS = 1_000
SHARE = 0.5


def _start(env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", *options],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env(models: RolloutModels, mode: str | None, share: float = SHARE) -> dict[str, str]:
    env = {MODEL_DIR_ENV: str(models.champion)}
    if mode is not None:
        env |= {CHALLENGER_DIR_ENV: str(models.challenger), MODE_ENV: mode, SHARE_ENV: str(share)}
    return env


@pytest.fixture(scope="module")
def servers(
    rollout_models: RolloutModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """ab (1 worker), ab (2 workers, multiprocess metrics), shadow, and no challenger."""
    multiproc = tmp_path_factory.mktemp("prometheus-multiproc")
    specs = {
        "ab": (_env(rollout_models, "ab"), ()),
        "ab_workers": (
            {**_env(rollout_models, "ab"), MULTIPROC_ENV: str(multiproc)},
            ("--workers", "2"),
        ),
        "shadow": (_env(rollout_models, "shadow", 1.0), ()),
        "plain": (_env(rollout_models, None), ()),
    }
    processes, urls = {}, {}
    try:
        for name, (env, options) in specs.items():
            port = free_port()
            processes[name] = _start(env, "--port", str(port), *options)
            urls[name] = f"http://127.0.0.1:{port}"
        for name, process in processes.items():
            wait_ready(process, urls[name], START_TIMEOUT_S, lambda: "see stderr")
        yield urls
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.communicate(timeout=60)


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
    for name in ("ab", "ab_workers"):
        with httpx.Client(base_url=servers[name], timeout=30) as client:
            arms[name] = [
                client.post(
                    "/rank", json=[training_posts[i]], headers={"X-User-Id": f"user-{i}"}
                ).json()["model_version"]
                for i in range(USERS)
            ]
    assert arms["ab"] == arms["ab_workers"]
    expected = [CHALLENGER if in_treatment(f"user-{i}", CHALLENGER, SHARE) else CHAMPION
                for i in range(USERS)]  # fmt: skip
    assert arms["ab"] == expected
    treated = arms["ab"].count(CHALLENGER)
    # 4 standard deviations of Binomial(1000, 0.5): fails by chance with probability < 1e-4
    assert abs(treated - USERS * SHARE) <= 4 * math.sqrt(USERS * SHARE * (1 - SHARE))
    # the two workers' counts add up in one scrape (multiprocess mode), once the worker that
    # is not scraped has flushed its last batch (its timer fires FLUSH_SECONDS after the batch
    # began); a generous deadline against a busy machine
    expected_counts = {
        (("role", "challenger"), ("version", CHALLENGER)): treated,
        (("role", "champion"), ("version", CHAMPION)): USERS - treated,
    }
    deadline = time.monotonic() + 10 * FLUSH_SECONDS
    while True:
        counts = _samples(servers["ab_workers"], "feedrank_rank_requests_total")
        if counts == expected_counts or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert counts == expected_counts


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
    ("env", "line"),
    [
        ({MODE_ENV: "shadow"}, "FEEDRANK_CHALLENGER_MODE and FEEDRANK_CHALLENGER_SHARE need"),
        ({CHALLENGER_DIR_ENV: "CHALLENGER", MODE_ENV: "ab"}, "FEEDRANK_CHALLENGER_SHARE=''"),
        (
            {CHALLENGER_DIR_ENV: "/nonexistent", MODE_ENV: "ab", SHARE_ENV: "0.1"},
            "challenger (FEEDRANK_CHALLENGER_DIR): model directory /nonexistent does not exist",
        ),
        ({MULTIPROC_ENV: "/nonexistent"}, "PROMETHEUS_MULTIPROC_DIR='/nonexistent' must be"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(
    rollout_models: RolloutModels, env: dict[str, str], line: str
) -> None:
    env = {k: str(rollout_models.challenger) if v == "CHALLENGER" else v for k, v in env.items()}
    process = _start(
        {**os.environ, **_env(rollout_models, None), **env}, "--port", str(free_port())
    )
    _, stderr = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode != 0
    assert "Traceback" not in stderr
    cannot = [text for text in stderr.splitlines() if "feedrank cannot start" in text]
    assert len(cannot) == 1 and line in cannot[0], stderr
