"""Prometheus metrics with ``prometheus_client``: HTTP, per model version, shadow, drift.

One service process per replica (the proxy balances replicas), so every value lives in this
process's registry, with the process collector's CPU, memory and file descriptors beside them.
What a request records is a few counter and histogram updates on cached children; the drift
windows take ranked posts in batches, and their PSI is computed when /metrics is scraped.
"""

from __future__ import annotations

import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    Summary,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bundle.drift import DriftWindow

# fine around the 15 ms budget, so its p99 reads off the buckets
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5,
)  # fmt: skip
# bounds start at 0: prometheus_client drops _sum from a histogram with a negative bound
DIFFERENCE_BUCKETS: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
TAU_BUCKETS: Final = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
STAGES: Final = ("validate", "featurise", "predict", "serialise")
# the last 5,000 posts: PSI's small-sample bias is about (bins - 1) / posts, 0.002 here
DRIFT_WINDOW_POSTS: Final = 5_000
# one ranked request in this many joins the drift windows: a sample tracks the distribution
# as well, and binning is NumPy work that would otherwise cost every request
DRIFT_SAMPLE: Final = 10
# sampled requests reach the drift windows in batches of this many: binning costs per call
DRIFT_BATCH: Final = 20


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent in each stage of one /rank request."""

    validate: float
    featurise: float
    predict: float
    serialise: float
    # /rank/ids only: reading the posts from Feast's feature server
    store: float | None = None

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.validate, self.featurise, self.predict, self.serialise)

    def server_timing(self) -> str:
        """A ``Server-Timing`` header value (milliseconds), readable in browser dev tools."""
        stages = ", ".join(
            f"{name};dur={seconds * 1e3:.3f}"
            for name, seconds in zip(STAGES, self.as_tuple(), strict=True)
        )
        return stages if self.store is None else f"store;dur={self.store * 1e3:.3f}, {stages}"


@dataclass(frozen=True)
class RankOutcome:
    """A ranked request as its metrics see it, in request order: who answered, the posts'
    columns and scores (for the drift window) and the stage timings."""

    version: str
    role: str
    columns: Mapping[str, np.ndarray]
    scores: np.ndarray
    n_unknown_subreddits: int
    timings: StageTimings


class _PeakMemory(Collector):
    """``process_max_resident_memory_bytes``, which the process collector lacks."""

    def collect(self) -> Iterable[Metric]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        yield GaugeMetricFamily(
            "process_max_resident_memory_bytes", "Peak resident memory (RSS).", value=peak
        )


def _counter(registry: CollectorRegistry, name: str, text: str, *labels: str) -> Counter:
    return Counter(name, text, labels, registry=registry)


def _histogram(
    registry: CollectorRegistry, name: str, text: str, buckets: tuple[float, ...], *labels: str
) -> Histogram:
    return Histogram(name, text, labels, registry=registry, buckets=buckets)


def _gauge(registry: CollectorRegistry, name: str, text: str, *labels: str) -> Gauge:
    return Gauge(name, text, labels, registry=registry)


class HttpSeries:
    """Every request: its route, status and time to the last byte."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = _counter(
            registry,
            "feedrank_http_requests",
            "HTTP requests by route and status.",
            "route",
            "method",
            "status",
        )
        self.latency = _histogram(
            registry,
            "feedrank_http_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            LATENCY_BUCKETS,
            "route",
        )


class RankSeries:
    """Ranked requests: stages, posts, the model that answered, the store read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stages = Summary(
            "feedrank_rank_stage_seconds",
            "Time spent per /rank stage (successful requests).",
            ("stage",),
            registry=registry,
        )
        self.store_read = _histogram(
            registry,
            "feedrank_store_read_seconds",
            "/rank/ids: reading the posts from the feature server, by outcome (ok, unknown: an "
            "id it does not hold, error, timeout).",
            LATENCY_BUCKETS,
            "outcome",
        )
        self.posts = _counter(registry, "feedrank_posts_scored", "Posts scored by /rank.")
        self.unknown = _counter(
            registry,
            "feedrank_unknown_subreddit_posts",
            "Posts scored with the unknown-subreddit fallback.",
        )
        self.model_errors = _counter(
            registry,
            "feedrank_model_errors",
            "/rank requests answered 503 model_error because the model raised on valid posts.",
        )
        self.ranked = _counter(
            registry,
            "feedrank_rank_requests",
            "/rank responses by the model that ranked them.",
            "version",
            "role",
        )
        self.model_seconds = _histogram(
            registry,
            "feedrank_rank_model_seconds",
            "In-process time of a ranked request (validate to serialise), by model version.",
            LATENCY_BUCKETS,
            "version",
        )


class RolloutSeries:
    """The models deployed, and how the challenger fares beside the champion."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.model_info = _gauge(
            registry,
            "feedrank_model_info",
            "The champion model (1 while it serves).",
            "version",
            "family",
        )
        self.rollout_info = _gauge(
            registry,
            "feedrank_rollout_info",
            "The challenger, its mode and share (absent without a challenger).",
            "mode",
            "champion",
            "challenger",
            "share",
        )
        self.shadow = _counter(
            registry,
            "feedrank_shadow_requests",
            "Requests the challenger scored in shadow.",
            "version",
        )
        self.shadow_difference = Summary(
            "feedrank_shadow_score_difference",
            "Mean challenger minus champion score of a shadowed request's posts.",
            ("version",),
            registry=registry,
        )
        self.shadow_abs_difference = _histogram(
            registry,
            "feedrank_shadow_abs_score_difference",
            "|challenger - champion| score, per post of a shadowed request.",
            DIFFERENCE_BUCKETS,
            "version",
        )
        self.shadow_tau = _histogram(
            registry,
            "feedrank_shadow_kendall_tau",
            "Kendall tau-b of the champion's and the challenger's order, per request (le=0 "
            "holds the negative ones).",
            TAU_BUCKETS,
            "version",
        )
        self.shadow_seconds = _histogram(
            registry,
            "feedrank_shadow_seconds",
            "Time the challenger took to score a shadowed request (after the response).",
            LATENCY_BUCKETS,
            "version",
        )
        self.challenger_errors = _counter(
            registry,
            "feedrank_challenger_errors",
            "Challenger failures; the champion's response is unaffected.",
            "version",
            "mode",
        )


class DriftSeries:
    """Recent posts against the training data, per model version that ranks requests."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.psi = _gauge(
            registry,
            "feedrank_drift_psi",
            "Population stability index of recent posts against the training data.",
            "version",
            "field",
        )
        self.window = _gauge(
            registry, "feedrank_drift_window_posts", "Posts in the drift window.", "version"
        )
        self.mean_score = _gauge(
            registry,
            "feedrank_drift_mean_predicted_score",
            "Mean predicted score over the drift window.",
            "version",
        )
        self.reference_mean = _gauge(
            registry,
            "feedrank_drift_reference_mean_score",
            "Mean predicted score on the training data.",
            "version",
        )


class Metrics:
    """What /metrics exposes: the series, the cached children requests update, the drift
    windows and the ranked requests waiting to join them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # no *_created series: they double the size of a scrape and say little
        disable_created_metrics()  # type: ignore[no-untyped-call]
        ProcessCollector(registry=self.registry)
        self.registry.register(_PeakMemory())
        self.http = HttpSeries(self.registry)
        self.rank = RankSeries(self.registry)
        self.rollout = RolloutSeries(self.registry)
        self.drift_series = DriftSeries(self.registry)
        self.drift: dict[str, DriftWindow] = {}
        self.pending: list[RankOutcome] = []
        self.ranked = 0
        self._children: dict[tuple[object, ...], Any] = {}

    def watch_drift(self, version: str, reference: Mapping[str, Any] | None) -> None:
        """Starts a drift window for a model that ranks requests (a bundle saved before drift
        references existed has none, and gets no drift gauges)."""
        if reference is not None:
            self.drift[version] = DriftWindow(reference, DRIFT_WINDOW_POSTS)
            self.drift_series.reference_mean.labels(version).set(self.drift[version].reference_mean)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http.requests, route, method, str(status)).inc()
        self._child(self.http.latency, route).observe(seconds)

    def _child(self, family: Any, *labels: str) -> Any:
        """``family.labels(*labels)``, kept: each ``labels`` call takes a lock and builds a key."""
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def observe_rank(self, outcome: RankOutcome) -> None:
        """Counts a ranked request; one in ``DRIFT_SAMPLE`` is queued for the drift windows,
        which take them ``DRIFT_BATCH`` at a time, or at a scrape."""
        series = self.rank
        series.posts.inc(len(outcome.scores))
        if outcome.n_unknown_subreddits:
            series.unknown.inc(outcome.n_unknown_subreddits)
        stages = outcome.timings.as_tuple()
        for stage, seconds in zip(STAGES, stages, strict=True):
            self._child(series.stages, stage).observe(seconds)
        self._child(series.ranked, outcome.version, outcome.role).inc()
        self._child(series.model_seconds, outcome.version).observe(sum(stages))
        self.ranked += 1
        if outcome.version in self.drift and self.ranked % DRIFT_SAMPLE == 0:
            self.pending.append(outcome)
            if len(self.pending) >= DRIFT_BATCH:
                self.flush()

    def flush(self) -> None:
        """Adds the queued posts to their drift windows."""
        pending, self.pending = self.pending, []
        for version, window in self.drift.items():
            mine = [outcome for outcome in pending if outcome.version == version]
            if mine:
                names = mine[0].columns.keys()
                window.add(
                    {name: np.concatenate([o.columns[name] for o in mine]) for name in names},
                    np.concatenate([o.scores for o in mine]),
                )

    def observe_shadow(
        self, version: str, champion: np.ndarray, challenger: np.ndarray, tau: float, seconds: float
    ) -> None:
        series = self.rollout
        series.shadow.labels(version).inc()
        series.shadow_seconds.labels(version).observe(seconds)
        difference = challenger - champion
        series.shadow_difference.labels(version).observe(float(difference.mean()))
        histogram = series.shadow_abs_difference.labels(version)
        for value in np.abs(difference).tolist():
            histogram.observe(value)
        if np.isfinite(tau):
            series.shadow_tau.labels(version).observe(tau)

    def render(self) -> bytes:
        """The exposition, with the drift gauges computed from the windows as they are now."""
        self.flush()
        series = self.drift_series
        for version, window in self.drift.items():
            for name, value in window.psi().items():
                series.psi.labels(version, name).set(value)
            series.window.labels(version).set(window.filled)
            series.mean_score.labels(version).set(window.mean_score())
        return generate_latest(self.registry)
