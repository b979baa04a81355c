"""``serving/metrics.py`` on its own: the ``Server-Timing`` value, and the drift windows that take
ranked posts in batches. The series as /metrics shows them are checked through the app in
tests/serving/test_app.py and tests/serving/test_rollout.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from benchmarks.payloads import synthetic_posts
from bundle.drift import reference
from features.schema import INPUT_COLUMNS
from serving.metrics import DRIFT_BATCH, Metrics, RankOutcome, StageTimings
from serving.schemas import columns
from serving.settings import Settings

VERSION = "logistic-test"
SLATE = 20


def test_server_timing_lists_the_stages_in_milliseconds() -> None:
    timings = StageTimings(validate=0.001, featurise=0.0002, predict=0.00003, serialise=0.004)
    assert timings.server_timing() == (
        "validate;dur=1.000, featurise;dur=0.200, predict;dur=0.030, serialise;dur=4.000"
    )
    with_store = StageTimings(0.001, 0.0002, 0.00003, 0.004, store=0.0025)
    assert with_store.server_timing().startswith("store;dur=2.500, validate;dur=1.000")


def test_drift_windows_take_ranked_posts_a_batch_at_a_time() -> None:
    posts = synthetic_posts(2_000, seed=3)
    table = columns(posts, INPUT_COLUMNS)
    scores = np.linspace(0.1, 0.9, len(posts))
    slates = [
        (columns(posts[i : i + SLATE], INPUT_COLUMNS), scores[i : i + SLATE])
        for i in range(0, len(posts), SLATE)
    ]
    metrics = Metrics()
    metrics.start(Settings())
    metrics.watch_drift(VERSION, reference(table, scores))
    window = metrics.drift[VERSION]

    def outcome(slate: int) -> RankOutcome:
        cols, slate_scores = slates[slate]
        return RankOutcome(
            version=VERSION,
            role="champion",
            columns=cols,
            scores=slate_scores,
            n_unknown_subreddits=0,
            timings=StageTimings(0.001, 0.001, 0.001, 0.001),
        )

    async def rank_requests(count: int) -> None:
        for slate in range(count):
            metrics.observe_rank(outcome(slate))

    asyncio.run(rank_requests(DRIFT_BATCH - 1))
    assert window.filled == 0, "the posts wait for a full batch"
    asyncio.run(rank_requests(1))
    assert window.filled == DRIFT_BATCH * SLATE
    # the same posts as the reference: no drift, to PSI's small-sample bias
    assert max(window.psi().values()) == pytest.approx(0.0, abs=0.05)
    assert b'feedrank_drift_window_posts{version="logistic-test"} 2000.0' in metrics.render()
