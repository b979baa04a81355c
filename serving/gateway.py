"""Where every HTTP request enters the service: bounded, timed and counted here once.

The app (``serving.app.FeedrankApp``) hands each HTTP request to ``Gateway`` before FastAPI
sees it. The gateway answers overload (503 with the error body and ``Retry-After``, before
anything else runs), serves ``/rank`` through ``RankEndpoint`` without entering the framework
(whose per-request layers cost more than the model: SERVING.md, "Performance"), passes every
other request to FastAPI, and records each request's status and duration in /metrics. The
duration ends at the response's last byte, so the work scheduled after a ranking (shadow
scoring, a batch of drift metrics) is not counted as request latency.
"""

from __future__ import annotations

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.config import EdgeSettings
from serving.edge import edge_settings
from serving.errors import RETRY_AFTER, error_response, internal_error_response
from serving.metrics import Metrics
from serving.rank import RANK_PATH, RankEndpoint

# liveness and scraping stay answerable when /rank is saturated: an orchestrator that cannot
# reach /health restarts a replica that is merely busy
UNLIMITED_PATHS: Final = frozenset({"/health", "/metrics"})
UNMATCHED_ROUTE: Final = "unmatched"


class Gateway:
    """Bounds the requests in flight, serves ``/rank``, and times every request; ``app`` is
    the framework, for every other request."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, rank: RankEndpoint, edge: EdgeSettings | None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.rank = rank
        self.edge = edge
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        limits = self.edge or edge_settings()
        if self.in_flight >= limits.max_in_flight and path not in UNLIMITED_PATHS:
            response = error_response(
                503,
                "overloaded",
                f"{self.in_flight} requests are being handled (limit {limits.max_in_flight}); "
                "retry shortly, on this replica or another",
                headers=RETRY_AFTER,
            )
            await response(scope, receive, send)
            self._record(scope, path if path == RANK_PATH else None, 503, start)
            return
        self.in_flight += 1
        try:
            if path == RANK_PATH:
                await self._rank(scope, receive, send, start)
            else:
                await self._framework(scope, receive, send, start)
        finally:
            self.in_flight -= 1

    async def _rank(self, scope: Scope, receive: Receive, send: Send, start: float) -> None:
        try:
            status, after = await self.rank(scope, receive, send)
        except Exception as bug:  # outside the framework, so answered here as its handler would
            response = internal_error_response(bug, scope["method"], RANK_PATH)
            await response(scope, receive, send)
            status, after = response.status_code, None
        self._record(scope, RANK_PATH, status, start)
        if after is not None:
            await after()

    async def _framework(self, scope: Scope, receive: Receive, send: Send, start: float) -> None:
        status = 500
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                recorded = True
                self._record(scope, _route(scope), status, start)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:
                self._record(scope, _route(scope), status, start)

    def _record(self, scope: Scope, route: str | None, status: int, start: float) -> None:
        seconds = time.perf_counter() - start
        self.metrics.observe_request(route or UNMATCHED_ROUTE, scope["method"], status, seconds)


def _route(scope: Scope) -> str | None:
    """The matched route's template (``/model``), so unknown paths share one series."""
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else None
