"""The FastAPI application: ``POST /rank`` and the operational routes.

``create_app(settings)`` builds it and ``python -m serving`` runs it under uvicorn, behind the
edge proxy that holds the HTTP edge and sheds load (``deploy/``). The app keeps what belongs to
the application: the body's size limit and read deadline (``read_body``), its media type and
encoding, strict validation, the error body, and each request's line in /metrics
(``RequestMetrics``). The models load in the lifespan.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.body import JSON
from serving.errors import install_error_handlers
from serving.feature_store import PostStore
from serving.metrics import Metrics
from serving.rollout import Rollout
from serving.routes import RANK_PATH, Service, router
from serving.schemas import EXAMPLE_POSTS, RANK_BODY
from serving.settings import Settings

UNMATCHED_ROUTE: Final = "unmatched"
_SCHEMA_REF: Final = "#/components/schemas/{model}"
# metrics are Prometheus (serving.metrics): FastAPI's per-request OpenTelemetry hooks stay off
TELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}

log = logging.getLogger("feedrank.serving")


class RequestMetrics:
    """Records every request in /metrics: its route template, status and duration.

    The recorded duration ends at the response's last byte, so work scheduled after a ranking
    is not counted as latency.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                recorded = True
                self._record(scope, status, start)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:
                self._record(scope, status, start)

    def _record(self, scope: Scope, status: int, start: float) -> None:
        """Labelled by the matched route's template, so unknown paths share one series."""
        route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
        self.metrics.observe_request(
            str(route), scope["method"], status, time.perf_counter() - start
        )


def create_app(settings: Settings) -> FastAPI:
    """The service for ``settings``; its models load when the server starts it."""
    service = Service(settings, Metrics())
    app = FastAPI(
        title="feedrank",
        version="1.0.0",
        summary="Ranks 1-20 Reddit-style posts by calibrated P(engaged).",
        lifespan=lambda app: lifespan(service),
        telemetry=TELEMETRY,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    app.include_router(router)
    # FastAPI's documented way to extend the generated document ("Extending OpenAPI")
    app.openapi = _openapi_with_rank_body(app)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def lifespan(service: Service) -> AsyncIterator[None]:
    """Loads the models and opens the feature server's client for the server's lifetime."""
    settings, metrics = service.settings, service.metrics
    service.rollout = Rollout.load(settings, metrics)
    log.info(
        "feedrank serving model %s (%s) from %s",
        service.rollout.champion.version,
        service.rollout.champion.model.family,
        settings.model_dir,
    )
    service.store = PostStore.open(
        settings.feature_server,
        settings.store_timeout,
        lambda outcome, seconds: metrics.rank.store_read.labels(outcome).observe(seconds),
    )
    # the framework, the models and everything imported live as long as the process: moved
    # out of the collector's reach, a full collection only scans what requests allocate
    gc.collect()
    gc.freeze()
    yield
    await service.store.close()


def _openapi_with_rank_body(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The generated document plus /rank's request body: ``RankBody``'s own JSON schema.

    /rank reads its body and the ``X-User-Id`` header itself (to refuse duplicate keys, and to
    validate the header with the type that validates the body's ``user_id``), so FastAPI cannot
    infer either.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            body = RANK_BODY.json_schema(ref_template=_SCHEMA_REF)
            schema["components"]["schemas"].update(body.pop("$defs", {}))
            schema["paths"][RANK_PATH]["post"]["requestBody"] = {
                "required": True,
                "content": {
                    JSON: {
                        "schema": body,
                        "examples": {
                            "wrapped": {"value": {"posts": EXAMPLE_POSTS}},
                            "bare_array": {"value": EXAMPLE_POSTS},
                        },
                    }
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
