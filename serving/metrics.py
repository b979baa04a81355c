"""Prometheus metrics with ``prometheus_client``: HTTP, per model version, shadow, drift.

The metric objects are created when the service starts (``Metrics.start``), not at import, so a
bad ``PROMETHEUS_MULTIPROC_DIR`` stops start-up with one line. With that variable unset (the
image's default: one worker per container) every value lives in process memory and the
process collector adds CPU, memory and file descriptors. With it set, each worker writes its
values to memory-mapped files in that directory and a scrape of any worker aggregates them all:
counters and histograms are summed, drift gauges report the most recently computed value, and
per-process metrics are left out (see SERVING.md, which also says how to mount the directory
in a read-only container).
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Iterable, Mapping
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
from features.schema import TEXT_COLUMN
from serving.config import ConfigError
from serving.model import STAGES, RankOutcome

LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
SCORE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# bounds start at 0: prometheus_client drops _sum from a histogram with a negative bound
DIFFERENCE_BUCKETS: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
TAU_BUCKETS: Final = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# the last 5,000 posts: PSI's small-sample bias is about (bins - 1) / posts, 0.002 here
DRIFT_WINDOW_POSTS: Final = 5_000
# ranked requests reach their metrics in batches of this many, after the response (or at a
# scrape, or FLUSH_SECONDS after the batch began): a list append per request instead of
# a dozen locked updates and per-post work on the request path
FLUSH_REQUESTS: Final = 100
# so a worker that goes quiet still publishes its last requests (a multiprocess scrape of
# another worker cannot flush it)
FLUSH_SECONDS: Final = 1.0


def observe_many(metric: Histogram | Summary, values: np.ndarray) -> None:
    """``metric.observe`` for each value, in one pass (a bincount, not a loop of locks).

    Uses the child's bucket, count and sum values, prometheus_client internals that
    ``observe`` itself updates; tests/test_rollout.py checks the result against ``observe``.
    """
    if len(values) == 0:
        return
    if isinstance(metric, Summary):
        metric._count.inc(len(values))
    else:
        bounds = np.asarray(metric._upper_bounds)
        counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
        for bucket, count in zip(metric._buckets, counts.tolist(), strict=True):
            if count:
                bucket.inc(count)
    metric._sum.inc(float(np.sum(values)))


def multiprocess_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """``$PROMETHEUS_MULTIPROC_DIR`` if set; raises ``ConfigError`` unless it is writable."""
    raw = environ.get(MULTIPROC_ENV)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise ConfigError(
            f"{MULTIPROC_ENV}={raw!r} must be an existing writable directory, emptied before "
            "the server starts (in a read-only container: a tmpfs mount)"
        )
    return path


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
        self.scores = histogram(
            "feedrank_predicted_score",
            "Predicted P(engaged) per post, by model version.",
            SCORE_BUCKETS,
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


def drift_columns(outcomes: list[RankOutcome]) -> dict[str, np.ndarray]:
    """Every raw field drift watches, from the columns the requests already built (the model's
    inputs: all numbers and the subreddit) plus the titles, if the model did not read them."""
    columns = {
        name: np.concatenate([outcome.columns[name] for outcome in outcomes])
        for name in outcomes[0].columns
    }
    if TEXT_COLUMN not in columns:
        titles = [post["title"] for outcome in outcomes for post in outcome.posts]
        columns[TEXT_COLUMN] = np.array(titles, dtype=object)
    return columns


class Metrics:
    """What /metrics exposes; ``start`` creates the series once the models are loaded."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.series: _Series | None = None
        self.multiprocess: Path | None = None
        self._stages: dict[str, Any] = {}
        self.drift: dict[str, DriftWindow] = {}
        self.pending: list[tuple[str, str, RankOutcome]] = []
        self._children: dict[tuple[str, ...], Any] = {}

    def start(self, environ: Mapping[str, str] = os.environ) -> None:
        """Creates the series (raises ``ConfigError`` for a bad multiprocess directory)."""
        if self.series is not None:
            return
        self.multiprocess = multiprocess_dir(environ)
        # no *_created series: they double the size of a scrape and say little
        disable_created_metrics()  # type: ignore[no-untyped-call]
        if self.multiprocess is None:
            ProcessCollector(registry=self.registry)
            self.registry.register(_PeakMemory())
        self.series = _Series(self.registry)
        self._stages = {stage: self.series.stages.labels(stage) for stage in STAGES}

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

    def model_error(self) -> None:
        self.s.model_errors.inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if self.series is None:  # a request before start-up finished: nothing to count yet
            return
        self._child(self.series.requests, "requests", route, method, str(status)).inc()
        self._child(self.series.latency, "latency", route).observe(seconds)

    def _child(self, family: Any, *labels: str) -> Any:
        """``family.labels(*labels[1:])``, cached: ``labels`` takes a lock and builds a key."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = family.labels(*labels[1:])
        return child

    def observe_rank(self, outcome: RankOutcome, version: str, role: str) -> bool:
        """Queues a ranked request for its metrics; True when a batch is due (the caller runs
        ``flush`` once the response is sent). A batch that stays short is flushed by a timer."""
        if not self.pending:
            self._flush_later()
        self.pending.append((version, role, outcome))
        return len(self.pending) >= FLUSH_REQUESTS

    def _flush_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: flushed by count and at every scrape
            return
        loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Counters, latency, score histograms and drift windows for the queued requests, then
        the drift gauges."""
        pending, self.pending = self.pending, []
        if pending:
            s = self.s
            outcomes = [outcome for _, _, outcome in pending]
            s.posts.inc(sum(outcome.n_posts for outcome in outcomes))
            unknown = sum(outcome.n_unknown_subreddits for outcome in outcomes)
            if unknown:
                s.unknown.inc(unknown)
            stages = np.array([outcome.timings.as_tuple() for outcome in outcomes])
            for stage, seconds in zip(STAGES, stages.T, strict=True):
                observe_many(self._stages[stage], seconds)
            totals = stages.sum(axis=1)
            for version, role in dict.fromkeys((v, r) for v, r, _ in pending):
                mine = [i for i, (v, r, _) in enumerate(pending) if (v, r) == (version, role)]
                self._child(s.ranked, "ranked", version, role).inc(len(mine))
                observe_many(self._child(s.rank_seconds, "rank_seconds", version), totals[mine])
            for version in dict.fromkeys(v for v, _, _ in pending):
                self._observe_posts(version, [o for v, _, o in pending if v == version])
        self.refresh_drift()

    def _observe_posts(self, version: str, outcomes: list[RankOutcome]) -> None:
        scores = np.concatenate([outcome.scores for outcome in outcomes])
        observe_many(self._child(self.s.scores, "scores", version), scores)
        window = self.drift.get(version)
        if window is not None:
            window.add(drift_columns(outcomes), scores)

    def observe_shadow(
        self, version: str, champion: np.ndarray, challenger: np.ndarray, tau: float, seconds: float
    ) -> None:
        s = self.s
        s.shadow.labels(version).inc()
        s.shadow_seconds.labels(version).observe(seconds)
        difference = challenger - champion
        s.shadow_difference.labels(version).observe(float(difference.mean()))
        observe_many(s.shadow_abs_difference.labels(version), np.abs(difference))
        if np.isfinite(tau):
            s.shadow_tau.labels(version).observe(tau)

    def refresh_drift(self) -> None:
        """Recomputes PSI and the mean score of every drift window into the gauges."""
        for version, window in self.drift.items():
            for name, value in window.psi().items():
                self.s.psi.labels(version, name).set(value)
            self.s.window.labels(version).set(window.filled)
            self.s.mean_score.labels(version).set(window.mean_score())

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
