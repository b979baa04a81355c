"""Prometheus metrics in the text exposition format, kept in process memory.

Hand-written rather than prometheus-client: a dozen metric families do not justify a dependency,
and a single-threaded event loop updates them, so no locks are needed. Each uvicorn worker
holds its own counters; the image runs one worker per container and scales by containers,
which keeps a scrape equal to one process (see SERVING.md).
"""

from __future__ import annotations

import bisect
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.model import STAGES, RankOutcome

LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE: Final = "unmatched"
_LABEL_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Histogram:
    """Cumulative-bucket histogram with Prometheus semantics (``le`` upper bounds)."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class Metrics:
    """Every number /metrics exposes."""

    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    latency: dict[str, Histogram] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    ranked_requests: int = 0
    posts_scored: int = 0
    unknown_subreddit_posts: int = 0
    model_errors: int = 0
    model_version: str | None = None
    model_family: str | None = None

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, str(status))] += 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram()
        histogram.observe(seconds)

    def observe_rank(self, outcome: RankOutcome) -> None:
        self.ranked_requests += 1
        self.posts_scored += outcome.n_posts
        self.unknown_subreddit_posts += outcome.n_unknown_subreddits
        for stage, seconds in outcome.timings.as_dict().items():
            self.stage_seconds[stage] += seconds

    def render(self) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"))

        family("feedrank_http_requests_total", "counter", "HTTP requests by route and status.")
        for (route, method, status), count in sorted(self.requests.items()):
            labels = _labels(route=route, method=method, status=status)
            lines.append(f"feedrank_http_requests_total{labels} {count}")

        name = "feedrank_http_request_duration_seconds"
        family(name, "histogram", "Time from request start to the end of the response.")
        for route, histogram in sorted(self.latency.items()):
            cumulative = 0
            bounds = [*(f"{b:g}" for b in histogram.buckets), "+Inf"]
            for bound, count in zip(bounds, histogram.counts, strict=True):
                cumulative += count
                lines.append(f"{name}_bucket{_labels(route=route, le=bound)} {cumulative}")
            lines.append(f"{name}_sum{_labels(route=route)} {histogram.total:.9f}")
            lines.append(f"{name}_count{_labels(route=route)} {histogram.count}")

        name = "feedrank_rank_stage_seconds"
        family(name, "summary", "Time spent per /rank stage (sum over successful requests).")
        for stage, seconds in self.stage_seconds.items():
            lines.append(f"{name}_sum{_labels(stage=stage)} {seconds:.9f}")
            lines.append(f"{name}_count{_labels(stage=stage)} {self.ranked_requests}")

        family("feedrank_posts_scored_total", "counter", "Posts scored by /rank.")
        lines.append(f"feedrank_posts_scored_total {self.posts_scored}")
        family(
            "feedrank_unknown_subreddit_posts_total",
            "counter",
            "Posts scored with the unknown-subreddit fallback.",
        )
        lines.append(f"feedrank_unknown_subreddit_posts_total {self.unknown_subreddit_posts}")
        family(
            "feedrank_model_errors_total",
            "counter",
            "/rank requests answered 503 model_error because the model raised on valid posts.",
        )
        lines.append(f"feedrank_model_errors_total {self.model_errors}")
        family("process_cpu_seconds_total", "counter", "User + system CPU time of this process.")
        lines.append(f"process_cpu_seconds_total {time.process_time():.6f}")
        family("process_max_resident_memory_bytes", "gauge", "Peak resident memory (RSS).")
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        lines.append(f"process_max_resident_memory_bytes {peak_rss}")
        rss, open_fds = _current_rss_bytes(), _open_fds()
        if rss is not None:
            family("process_resident_memory_bytes", "gauge", "Resident memory (RSS) now.")
            lines.append(f"process_resident_memory_bytes {rss}")
        if open_fds is not None:
            family("process_open_fds", "gauge", "Open file descriptors (sockets included).")
            lines.append(f"process_open_fds {open_fds}")
        family("feedrank_model_info", "gauge", "The loaded model (1 while it is serving).")
        if self.model_version is not None:
            labels = _labels(version=self.model_version, family=self.model_family or "")
            lines.append(f"feedrank_model_info{labels} 1")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) timing every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(
                str(template), scope["method"], status, time.perf_counter() - start
            )


def _current_rss_bytes() -> int | None:
    """RSS from /proc (Linux); the soak test reads it to show memory stays flat."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _labels(**labels: str) -> str:
    pairs = (f'{key}="{value.translate(_LABEL_ESCAPES)}"' for key, value in labels.items())
    return "{" + ",".join(pairs) + "}"
