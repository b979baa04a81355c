"""Prometheus metrics with ``prometheus_client``: HTTP, per model version, shadow, drift.

The metric objects are created in each worker when it starts (``Metrics.start``), not at import,
so that every worker process writes its own values. With that variable unset (the
image's default: one worker per container) every value lives in process memory and the
process collector adds CPU, memory and file descriptors. With it set, each worker writes its
values to memory-mapped files in that directory and a scrape of any worker aggregates them all:
counters and histograms are summed, drift gauges report the most recently computed value, and
per-process metrics are left out (see SERVING.md, which also says how to mount the directory
in a read-only container).
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
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
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bundle.drift import DriftWindow
from serving.settings import Settings

LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# bounds start at 0: prometheus_client drops _sum from a histogram with a negative bound
DIFFERENCE_BUCKETS: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
TAU_BUCKETS: Final = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
STAGES: Final = ("validate", "featurise", "predict", "serialise")
# the last 5,000 posts: PSI's small-sample bias is about (bins - 1) / posts, 0.002 here
DRIFT_WINDOW_POSTS: Final = 5_000
# ranked posts reach the drift windows in batches of this many requests: binning is NumPy
# work whose cost is mostly per call
DRIFT_BATCH: Final = 100
# so a worker that goes quiet still publishes its last drift figures (a multiprocess scrape
# of another worker cannot flush it)
FLUSH_SECONDS: Final = 1.0


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


class _Series:
    """Every metric family, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, text: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, text, labels, registry=registry)

        def histogram(name: str, text: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, text, labels, registry=registry, buckets=buckets)

        def gauge(name: str, text: str, labels: tuple[str, ...], mode: Any) -> Gauge:
            return Gauge(name, text, labels, registry=registry, multiprocess_mode=mode)

        self.requests = counter(
            "feedrank_http_requests",
            "HTTP requests by route and status.",
            ("route", "method", "status"),
        )
        self.latency = histogram(
            "feedrank_http_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            LATENCY_BUCKETS,
            "route",
        )
        self.stages = Summary(
            "feedrank_rank_stage_seconds",
            "Time spent per /rank stage (successful requests).",
            ("stage",),
            registry=registry,
        )
        self.store_read = histogram(
            "feedrank_store_read_seconds",
            "/rank/ids: reading the posts from the feature server, by outcome (ok, "
            "unknown: an id it does not hold, error, timeout).",
            LATENCY_BUCKETS,
            "outcome",
        )
        self.posts = counter("feedrank_posts_scored", "Posts scored by /rank.")
        self.unknown = counter(
            "feedrank_unknown_subreddit_posts", "Posts scored with the unknown-subreddit fallback."
        )
        self.model_errors = counter(
            "feedrank_model_errors",
            "/rank requests answered 503 model_error because the model raised on valid posts.",
        )
        self.model_info = gauge(
            "feedrank_model_info",
            "The champion model (1 while it serves).",
            ("version", "family"),
            "max",
        )
        self.rollout_info = gauge(
            "feedrank_rollout_info",
            "The challenger, its mode and share (absent without a challenger).",
            ("mode", "champion", "challenger", "share"),
            "max",
        )
        self.ranked = counter(
            "feedrank_rank_requests",
            "/rank responses by the model that ranked them.",
            ("version", "role"),
        )
        self.rank_seconds = histogram(
            "feedrank_rank_model_seconds",
            "In-process time of a ranked request (validate to serialise), by model version.",
            LATENCY_BUCKETS,
            "version",
        )
        self.shadow = counter(
            "feedrank_shadow_requests", "Requests the challenger scored in shadow.", ("version",)
        )
        self.shadow_difference = Summary(
            "feedrank_shadow_score_difference",
            "Mean challenger minus champion score of a shadowed request's posts.",
            ("version",),
            registry=registry,
        )
        self.shadow_abs_difference = histogram(
            "feedrank_shadow_abs_score_difference",
            "|challenger - champion| score, per post of a shadowed request.",
            DIFFERENCE_BUCKETS,
            "version",
        )
        self.shadow_tau = histogram(
            "feedrank_shadow_kendall_tau",
            "Kendall tau-b of the champion's and the challenger's order, per request (le=0 "
            "holds the negative ones).",
            TAU_BUCKETS,
            "version",
        )
        self.shadow_seconds = histogram(
            "feedrank_shadow_seconds",
            "Time the challenger took to score a shadowed request (after the response).",
            LATENCY_BUCKETS,
            "version",
        )
        self.challenger_errors = counter(
            "feedrank_challenger_errors",
            "Challenger failures; the champion's response is unaffected.",
            ("version", "mode"),
        )
        self.psi = gauge(
            "feedrank_drift_psi",
            "Population stability index of recent posts against the training data.",
            ("version", "field"),
            "mostrecent",
        )
        self.window = gauge(
            "feedrank_drift_window_posts", "Posts in the drift window.", ("version",), "mostrecent"
        )
        self.mean_score = gauge(
            "feedrank_drift_mean_predicted_score",
            "Mean predicted score over the drift window.",
            ("version",),
            "mostrecent",
        )
        self.reference_mean = gauge(
            "feedrank_drift_reference_mean_score",
            "Mean predicted score on the training data.",
            ("version",),
            "max",
        )


class Metrics:
    """What /metrics exposes; ``start`` creates the series once the models are loaded."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.series: _Series | None = None
        self.multiprocess: Path | None = None
        self.drift: dict[str, DriftWindow] = {}
        self.pending: list[RankOutcome] = []
        self._children: dict[tuple[str, ...], Any] = {}

    def start(self, settings: Settings) -> None:
        """Creates the series; called in each worker, after the server has started it."""
        if self.series is not None:
            return
        self.multiprocess = settings.prometheus_multiproc_dir
        # no *_created series: they double the size of a scrape and say little
        disable_created_metrics()  # type: ignore[no-untyped-call]
        if self.multiprocess is None:
            ProcessCollector(registry=self.registry)
            self.registry.register(_PeakMemory())
        self.series = _Series(self.registry)

    @property
    def s(self) -> _Series:
        if self.series is None:
            raise RuntimeError("Metrics.start() has not run")
        return self.series

    def watch_drift(self, version: str, reference: Mapping[str, Any] | None) -> None:
        """Starts a drift window for a model that ranks requests (a bundle saved before drift
        references existed has none, and gets no drift gauges)."""
        if reference is not None:
            self.drift[version] = DriftWindow(reference, DRIFT_WINDOW_POSTS)
            self.s.reference_mean.labels(version).set(self.drift[version].reference_mean)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if self.series is None:  # a request before start-up finished: nothing to count yet
            return
        self._child("requests", route, method, str(status)).inc()
        self._child("latency", route).observe(seconds)

    def _child(self, family: str, *labels: str) -> Any:
        """``family.labels(*labels)``, kept: each ``labels`` call takes a lock and builds a key."""
        key = (family, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = getattr(self.s, family).labels(*labels)
        return child

    def observe_rank(self, outcome: RankOutcome) -> None:
        """Counts a ranked request and queues its posts for the drift windows, which take
        them ``DRIFT_BATCH`` requests at a time, at a scrape, or ``FLUSH_SECONDS`` after the
        batch began."""
        s = self.s
        s.posts.inc(len(outcome.scores))
        if outcome.n_unknown_subreddits:
            s.unknown.inc(outcome.n_unknown_subreddits)
        for stage, seconds in zip(STAGES, outcome.timings.as_tuple(), strict=True):
            self._child("stages", stage).observe(seconds)
        self._child("ranked", outcome.version, outcome.role).inc()
        self._child("rank_seconds", outcome.version).observe(sum(outcome.timings.as_tuple()))
        if outcome.version not in self.drift:
            return
        if not self.pending:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        self.pending.append(outcome)
        if len(self.pending) >= DRIFT_BATCH:
            self.flush()

    def flush(self) -> None:
        """Adds the queued posts to their drift windows and refreshes the drift gauges."""
        pending, self.pending = self.pending, []
        s = self.s
        for version, window in self.drift.items():
            mine = [outcome for outcome in pending if outcome.version == version]
            if mine:
                names = mine[0].columns.keys()
                window.add(
                    {name: np.concatenate([o.columns[name] for o in mine]) for name in names},
                    np.concatenate([o.scores for o in mine]),
                )
            for name, value in window.psi().items():
                s.psi.labels(version, name).set(value)
            s.window.labels(version).set(window.filled)
            s.mean_score.labels(version).set(window.mean_score())

    def observe_shadow(
        self, version: str, champion: np.ndarray, challenger: np.ndarray, tau: float, seconds: float
    ) -> None:
        s = self.s
        s.shadow.labels(version).inc()
        s.shadow_seconds.labels(version).observe(seconds)
        difference = challenger - champion
        s.shadow_difference.labels(version).observe(float(difference.mean()))
        histogram = s.shadow_abs_difference.labels(version)
        for value in np.abs(difference).tolist():
            histogram.observe(value)
        if np.isfinite(tau):
            s.shadow_tau.labels(version).observe(tau)

    def render(self) -> bytes:
        if self.series is None:
            return b""
        self.flush()
        if self.multiprocess is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        collector = multiprocess.MultiProcessCollector
        collector(registry, path=str(self.multiprocess))  # type: ignore[no-untyped-call]
        return generate_latest(registry)
