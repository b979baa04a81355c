"""The FastAPI application: ``uvicorn serving.app:app``.

Routes: POST /rank, GET /health (liveness), /ready (model loaded and self-checked), /metrics
(Prometheus), /model (what is deployed). Every HTTP request enters through ``serving.gateway``,
which serves /rank itself (``serving.rank``) and passes the rest to FastAPI. The model is
loaded once per process in the ASGI lifespan, i.e. after uvicorn forks any workers, and a bad
model directory stops start-up with one log line naming the path and the problem.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.config import Settings
from serving.errors import RETRY_AFTER, ApiError, install_error_handlers, not_ready
from serving.gateway import Gateway
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import Metrics
from serving.model import Ranker
from serving.openapi import JSON, openapi_schema
from serving.rank import RankEndpoint
from serving.rollout import load_rollout
from serving.schemas import ErrorBody, HealthResponse, ModelInfo, ReadyResponse

logger = logging.getLogger("uvicorn.error")

_HEALTH_BODY: Final = orjson.dumps({"status": "ok"})


class StartupError(RuntimeError):
    """The service cannot start; the message is the one line operators will read."""


class ModelLifespan:
    """Loads the model when the server starts, answering the ASGI lifespan protocol itself.

    A failing FastAPI lifespan handler is reported by Starlette as a full traceback; doing the
    load here lets a bad model directory end start-up with a single line instead (uvicorn
    then exits with status 3). On success the startup message is handed on to the app.
    """

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, settings: Settings | None) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        startup = await receive()
        try:
            self.start()
        except StartupError as error:
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        replayed = False

        async def receive_with_startup() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return startup

        await self.app(scope, receive_with_startup, send)

    def start(self) -> None:
        state = self.fastapi_app.state
        try:
            settings = self.settings or Settings.from_env()
            ranker = Ranker.load(settings.model_dir)
            rollout = load_rollout(ranker, settings.model_dir, state.metrics)
        except Exception as error:  # any failure here must be one line, not a traceback
            raise StartupError(f"feedrank cannot start: {error}") from error
        state.settings, state.ranker, state.rollout = settings, ranker, rollout
        logger.info(
            "feedrank serving model %s (%s) from %s",
            ranker.version,
            ranker.model.family,
            settings.model_dir,
        )


class FeedrankApp(FastAPI):
    """FastAPI whose HTTP requests enter through ``serving.gateway.Gateway``, which serves
    /rank itself; the OpenAPI document adds /rank (``serving.openapi``)."""

    def __init__(self, settings: Settings | None) -> None:
        super().__init__(
            title="feedrank",
            version="1.0.0",
            summary="Ranks 1-20 Reddit-style posts by calibrated P(engaged).",
        )
        self.state.metrics = Metrics()
        self.state.ranker = None
        self.state.settings = settings
        edge = settings.edge if settings else None
        rank = RankEndpoint(self.state, edge)
        self.gateway = Gateway(self._framework, self.state.metrics, rank, edge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.gateway(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = openapi_schema(self)
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> FeedrankApp:
    """Builds the app; ``settings`` default to the environment, read at start-up."""
    app = FeedrankApp(settings)
    install_error_handlers(app)

    @app.get("/health", response_model=HealthResponse, summary="Liveness: the process answers")
    async def health() -> Response:
        return Response(_HEALTH_BODY, media_type=JSON)

    @app.get(
        "/ready",
        response_model=ReadyResponse,
        responses={
            503: {
                "model": ErrorBody,
                "description": "Model not loaded yet, or it raised on /rank and now fails its "
                "self-check.",
            }
        },
        summary="Readiness: the model is loaded and passes its self-check",
    )
    async def ready(request: Request) -> Response:
        """200 once the model is loaded; after the model has raised on /rank, 200 only if it
        still passes its self-check (so a load balancer stops routing to a broken replica)."""
        ranker = _ranker(request)
        if ranker.failing and not ranker.self_check():
            raise ApiError(
                503,
                "model_error",
                f"model {ranker.version} raised on /rank and now fails its self-check",
                headers=RETRY_AFTER,
            )
        return Response(
            orjson.dumps({"status": "ready", "model_version": ranker.version}), media_type=JSON
        )

    @app.get(
        "/model",
        response_model=ModelInfo,
        responses={503: {"model": ErrorBody, "description": "Model not loaded yet."}},
        summary="The deployed model: version, features, training metrics",
    )
    async def model_info(request: Request) -> Response:
        return Response(orjson.dumps(_ranker(request).info().model_dump()), media_type=JSON)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
        summary="Prometheus metrics",
    )
    async def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    app.add_middleware(ModelLifespan, fastapi_app=app, settings=settings)
    return app


def _ranker(request: Request) -> Ranker:
    ranker: Ranker | None = request.app.state.ranker
    if ranker is None:
        raise not_ready()
    return ranker


app = create_app()
