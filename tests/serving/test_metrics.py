"""``serving/metrics.py`` on its own: the ``Server-Timing`` value, and the drift windows that take
a sample of the ranked posts, in batches. The series as /metrics shows them are checked through
the app in tests/serving/test_app.py and tests/serving/test_rollout.py."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.payloads import synthetic_posts
from bundle.drift import reference
from serving.metrics import DRIFT_BATCH, DRIFT_SAMPLE, Metrics, RankOutcome, StageTimings
from tests.support.posts import table_of

VERSION = "logistic-test"
SLATE = 20


def test_server_timing_lists_the_stages_in_milliseconds() -> None:
    timings = StageTimings(validate=0.001, featurise=0.0002, predict=0.00003, serialise=0.004)
    assert timings.server_timing() == (
        "validate;dur=1.000, featurise;dur=0.200, predict;dur=0.030, serialise;dur=4.000"
    )
    with_store = StageTimings(0.001, 0.0002, 0.00003, 0.004, store=0.0025)
    assert with_store.server_timing().startswith("store;dur=2.500, validate;dur=1.000")


POSTS = synthetic_posts(2_000, seed=3)
SCORES = np.linspace(0.1, 0.9, len(POSTS))
SLATES = [
    (table_of(POSTS[i : i + SLATE]), SCORES[i : i + SLATE]) for i in range(0, len(POSTS), SLATE)
]


def outcome(slate: int) -> RankOutcome:
    """Slate ``slate`` of POSTS as the champion ranked it."""
    columns, scores = SLATES[slate % len(SLATES)]
    return RankOutcome(
        version=VERSION,
        role="champion",
        columns=columns,
        scores=scores,
        n_unknown_subreddits=0,
        timings=StageTimings(0.001, 0.001, 0.001, 0.001),
    )


def drifting_metrics() -> Metrics:
    """Metrics watching drift against POSTS and their SCORES."""
    metrics = Metrics()
    metrics.watch_drift(VERSION, reference(table_of(POSTS), SCORES))
    return metrics


def test_drift_windows_take_a_sample_of_ranked_posts_a_batch_at_a_time() -> None:
    metrics = drifting_metrics()
    window = metrics.drift[VERSION]
    for request in range(DRIFT_SAMPLE * DRIFT_BATCH - 1):
        metrics.observe_rank(outcome(request))
    assert window.filled == 0, "the sampled requests wait for a full batch"
    assert len(metrics.pending) == DRIFT_BATCH - 1, "one request in DRIFT_SAMPLE is sampled"
    metrics.observe_rank(outcome(0))
    assert window.filled == DRIFT_BATCH * SLATE


def test_the_drift_gauges_are_computed_at_a_scrape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("serving.metrics.DRIFT_SAMPLE", 1)  # every request joins the window
    metrics = drifting_metrics()
    for request in range(len(SLATES)):
        metrics.observe_rank(outcome(request))
    # the same posts as the reference: no drift, to PSI's small-sample bias
    assert max(metrics.drift[VERSION].psi().values()) == pytest.approx(0.0, abs=0.05)
    gauge = f'feedrank_drift_window_posts{{version="{VERSION}"}} {len(POSTS)}.0'
    assert gauge.encode() in metrics.render()
