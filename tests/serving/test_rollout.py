"""Champion/challenger in process: assignment, rank agreement, shadow isolation, per-version
metrics, drift in /metrics. Their settings are tests/serving/test_settings.py, the drift windows
tests/bundle/test_drift.py; the real-server checks (two processes, workers, start-up refusal) are in
``tests/system/test_rollout_server.py``."""

from __future__ import annotations

import errno
import math
import os
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

from benchmarks.payloads import Post
from bundle.store import ModelLoadError
from serving.app import create_app
from serving.rollout import ServedModel, in_treatment, kendall_tau
from serving.settings import Settings
from tests.support.bundles import CHALLENGER, CHAMPION, RolloutModels

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(client: TestClient) -> Samples:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def make_client(rollout_models: RolloutModels) -> Iterator[Any]:
    """Builds a started app for the given challenger settings; closes them all at the end."""
    clients: list[TestClient] = []

    def make(mode: str | None = None, share: float = 1.0) -> TestClient:
        challenger = {}
        if mode is not None:
            challenger = {
                "challenger_dir": rollout_models.challenger,
                "challenger_mode": mode,
                "challenger_share": share,
            }
        client = TestClient(create_app(Settings(model_dir=rollout_models.champion, **challenger)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _slates(posts: list[Post], n: int, seed: int) -> list[list[Post]]:
    rng = random.Random(seed)
    return [rng.sample(posts, rng.randint(1, 20)) for _ in range(n)]


# --- assignment and rank agreement ------------------------------------------------------------


def test_assignment_is_deterministic_nested_and_binomial() -> None:
    users = [f"user-{i}" for i in range(1000)]
    arms = [in_treatment(user, "salt", 0.3) for user in users]
    assert arms == [in_treatment(user, "salt", 0.3) for user in users]
    # within 4 standard deviations of 300 (p = 0.3, n = 1000): fails with probability < 1e-4
    assert abs(sum(arms) - 300) <= 4 * math.sqrt(1000 * 0.3 * 0.7)
    # ramping up keeps every treated user treated; another salt reshuffles
    wider = [in_treatment(user, "salt", 0.5) for user in users]
    assert all(w for a, w in zip(arms, wider, strict=True) if a)
    other = [in_treatment(user, "other-salt", 0.3) for user in users]
    assert sum(a == o for a, o in zip(arms, other, strict=True)) < 900
    assert not any(in_treatment(user, "salt", 0.0) for user in users)
    assert all(in_treatment(user, "salt", 1.0) for user in users)


def test_kendall_tau_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 20):
        a = rng.integers(0, 5, n).astype(float)
        b = a + rng.normal(0, 1.5, n)
        expected = stats.kendalltau(a, b).statistic
        if math.isnan(expected):
            assert math.isnan(kendall_tau(a, b))
        else:
            assert kendall_tau(a, b) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(kendall_tau(np.ones(3), np.arange(3.0)))


# --- drift ----------------------------------------------------------------------------------


def test_drift_gauges_in_metrics(
    make_client: Any, training_posts: list[Post], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serving.metrics.DRIFT_SAMPLE", 1)  # every request joins the window
    client = make_client()
    for slate in _slates(training_posts, 150, seed=1):
        assert client.post("/rank", json=slate).status_code == 200
    parsed = samples(client)
    window = value(parsed, "feedrank_drift_window_posts", version=CHAMPION)
    assert 1_000 < window <= 5_000
    for name in ("score", "post_age_hours", "subreddit", "title", "predicted_score"):
        assert value(parsed, "feedrank_drift_psi", version=CHAMPION, field=name) < 0.05, name
    mean = value(parsed, "feedrank_drift_mean_predicted_score", version=CHAMPION)
    reference = value(parsed, "feedrank_drift_reference_mean_score", version=CHAMPION)
    assert mean == pytest.approx(reference, abs=0.03)
    old = [{**post, "post_age_hours": post["post_age_hours"] + 200} for post in training_posts]
    for slate in _slates(old, 300, seed=2):
        assert client.post("/rank", json=slate).status_code == 200
    parsed = samples(client)
    assert value(parsed, "feedrank_drift_psi", version=CHAMPION, field="post_age_hours") > 0.25
    assert value(parsed, "feedrank_drift_psi", version=CHAMPION, field="predicted_score") > 0.25


# --- shadow ---------------------------------------------------------------------------------


def test_shadow_never_changes_a_response_byte(make_client: Any, training_posts: list[Post]) -> None:
    plain, shadowed = make_client(), make_client("shadow", 1.0)
    for slate in _slates(training_posts, 40, seed=3):
        expected, actual = plain.post("/rank", json=slate), shadowed.post("/rank", json=slate)
        assert actual.status_code == expected.status_code == 200
        assert actual.content == expected.content
        assert actual.headers["content-type"] == expected.headers["content-type"]
    parsed = samples(shadowed)
    assert value(parsed, "feedrank_shadow_requests_total", version=CHALLENGER) == 40
    assert value(parsed, "feedrank_shadow_score_difference_count", version=CHALLENGER) == 40
    posts = sum(len(slate) for slate in _slates(training_posts, 40, seed=3))
    abs_count = value(parsed, "feedrank_shadow_abs_score_difference_count", version=CHALLENGER)
    assert abs_count == posts
    assert value(parsed, "feedrank_shadow_abs_score_difference_sum", version=CHALLENGER) > 0
    assert value(parsed, "feedrank_shadow_kendall_tau_count", version=CHALLENGER) > 0
    assert value(parsed, "feedrank_rank_requests_total", version=CHAMPION, role="champion") == 40
    assert value(parsed, "feedrank_challenger_errors_total", version=CHALLENGER, mode="shadow") == 0
    # the models differ, so the shadow comparison has something to report
    tau_sum = value(parsed, "feedrank_shadow_kendall_tau_sum", version=CHALLENGER)
    tau_count = value(parsed, "feedrank_shadow_kendall_tau_count", version=CHALLENGER)
    assert 0.2 < tau_sum / tau_count < 0.99  # the orders agree mostly, not entirely
    info = value(
        parsed,
        "feedrank_rollout_info",
        mode="shadow",
        champion=CHAMPION,
        challenger=CHALLENGER,
        share="1",
    )
    assert info == 1


class _Raising:
    def decision_function(self, matrix: Any) -> Any:
        raise RuntimeError("challenger bug")


def test_a_challenger_that_raises_is_isolated(
    make_client: Any, training_posts: list[Post], caplog: pytest.LogCaptureFixture
) -> None:
    plain = make_client()
    for mode in ("shadow", "ab"):
        client = make_client(mode, 1.0)
        challenger = client.app.state.service.rollout.challenger  # type: ignore[attr-defined]
        challenger.model = replace(challenger.model, estimator=_Raising())
        for i, slate in enumerate(_slates(training_posts, 10, seed=4)):
            headers = {"X-User-Id": f"user-{i}"}
            response = client.post("/rank", json=slate, headers=headers)
            assert response.status_code == 200
            assert response.content == plain.post("/rank", json=slate).content
        parsed = samples(client)
        assert (
            value(parsed, "feedrank_challenger_errors_total", version=CHALLENGER, mode=mode) == 10
        )
        assert value(parsed, "feedrank_model_errors_total") == 0
        assert client.get("/ready").status_code == 200
    # a traceback once a minute, per rollout: read from the records, whatever formats them
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert sum("challenger bug" in f"{e} {e.__cause__}" for e in logged) == 2


# --- A/B ------------------------------------------------------------------------------------


def test_ab_routes_by_user_and_labels_versions(
    make_client: Any, training_posts: list[Post], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serving.metrics.DRIFT_SAMPLE", 1)  # every request joins the window
    client = make_client("ab", 0.5)
    slate = training_posts[:5]
    expected: dict[str, int] = {CHAMPION: 0, CHALLENGER: 0}
    for i in range(60):
        user = f"user-{i}"
        arm = CHALLENGER if in_treatment(user, CHALLENGER, 0.5) else CHAMPION
        expected[arm] += 2
        by_header = client.post("/rank", json=slate, headers={"X-User-Id": user}).json()
        by_body = client.post("/rank", json={"posts": slate, "user_id": user}).json()
        assert by_header["model_version"] == by_body["model_version"] == arm
    anonymous = client.post("/rank", json={"posts": slate}).json()
    assert anonymous["model_version"] == CHAMPION
    expected[CHAMPION] += 1
    assert 0 < expected[CHALLENGER] < 120
    parsed = samples(client)
    for version, role in ((CHAMPION, "champion"), (CHALLENGER, "challenger")):
        labels = {"version": version}
        assert (
            value(parsed, "feedrank_rank_requests_total", role=role, **labels) == expected[version]
        )
        assert value(parsed, "feedrank_rank_model_seconds_count", **labels) == expected[version]
        assert value(parsed, "feedrank_drift_window_posts", **labels) == 5 * expected[version]
    bad = client.post("/rank", json={"posts": slate, "user_id": ""})
    assert bad.status_code == 422


# --- loading --------------------------------------------------------------------------------


def test_an_unreadable_bundle_file_is_refused_in_one_line_naming_it(
    api_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mode 000 does not stop root, who runs these tests in CI: the read itself is refused
    unreadable = api_model_dir / "scoring.json"
    read_bytes = Path.read_bytes

    def refused(path: Path) -> bytes:
        if path == unreadable:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refused)
    with pytest.raises(ModelLoadError) as raised:
        ServedModel.load(api_model_dir)
    assert str(raised.value) == f"{unreadable} cannot be read: Permission denied"
