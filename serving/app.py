"""The FastAPI application: ``POST /rank`` and the operational routes.

``create_app(settings)`` builds it and ``python -m serving`` runs it under uvicorn, behind the
edge proxy that holds the HTTP edge and sheds load (``deploy/``). The app keeps what belongs to
the application: the body's size limit and read deadline (``read_body``), its media type and
encoding, strict validation, the error body, and each request's line in /metrics
(``RequestMetrics``). The models load in the lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from pydantic import TypeAdapter
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.schema import ID_COLUMN, POST_FIELDS
from serving.errors import (
    ERROR_RESPONSES,
    RETRY_AFTER,
    ApiError,
    ErrorBody,
    install_error_handlers,
    not_ready,
)
from serving.feature_store import (
    RANK_IDS_BODY,
    RANK_IDS_RESPONSES,
    PostStore,
    parse_ids_body,
)
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import Metrics, RankOutcome, StageTimings
from serving.rollout import ModelFailure, Rollout
from serving.schemas import (
    EXAMPLE_POSTS,
    USER_ID_HEADER,
    USER_ID_PARAMETER,
    HealthResponse,
    ModelInfo,
    PostIn,
    RankBody,
    RankResponse,
    ReadyResponse,
    parse_rank_body,
    ranking_json,
)
from serving.settings import MAX_POSTS, Settings

JSON: Final = "application/json"
RANK_PATH: Final = "/rank"
RANK_IDS_PATH: Final = "/rank/ids"
UNMATCHED_ROUTE: Final = "unmatched"
_HEALTH_BODY: Final = orjson.dumps({"status": "ok"})
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
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.start(settings)
        rollout = Rollout.load(settings, metrics)
        log.info(
            "feedrank serving model %s (%s) from %s",
            rollout.champion.version,
            rollout.champion.model.family,
            settings.model_dir,
        )
        store = PostStore.open(
            settings.feature_server,
            settings.store_timeout,
            lambda outcome, seconds: metrics.s.store_read.labels(outcome).observe(seconds),
        )
        app.state.rollout, app.state.store = rollout, store
        # the framework, the models and everything imported live as long as the worker: moved
        # out of the collector's reach, a full collection only scans what requests allocate
        gc.collect()
        gc.freeze()
        yield
        await store.close()

    app = FastAPI(
        title="feedrank",
        version="1.0.0",
        summary="Ranks 1-20 Reddit-style posts by calibrated P(engaged).",
        lifespan=lifespan,
        telemetry=TELEMETRY,
    )
    app.state.rollout = app.state.store = None
    install_error_handlers(app)
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.post(
        RANK_PATH,
        response_model=RankResponse,
        responses=ERROR_RESPONSES,
        summary="Rank posts by predicted engagement",
        description="Scores each post and returns them best first, with per-stage timings "
        "in the `Server-Timing` header. See SERVING.md for the full contract.",
        openapi_extra={"parameters": [USER_ID_PARAMETER]},
    )
    async def rank(request: Request) -> Response:
        rollout = _rollout(request)
        body = await read_body(request, settings)
        start = time.perf_counter()
        parsed = parse_rank_body(body, request.headers.get(USER_ID_HEADER))
        return ranked(rollout, parsed["posts"], parsed["user_id"], time.perf_counter() - start)

    @app.post(
        RANK_IDS_PATH,
        response_model=RankResponse,
        responses=RANK_IDS_RESPONSES,
        summary="Rank posts named by id, their fields read from the feature server",
        description="As `/rank`, with each post read from Feast's feature server; the "
        "`store` stage of `Server-Timing` is that read. See SERVING.md.",
        openapi_extra={"parameters": [USER_ID_PARAMETER], "requestBody": RANK_IDS_BODY},
    )
    async def rank_ids(request: Request) -> Response:
        rollout = _rollout(request)
        body = await read_body(request, settings)
        start = time.perf_counter()
        parsed = parse_ids_body(body, request.headers.get(USER_ID_HEADER))
        validated = time.perf_counter() - start
        store: PostStore = request.app.state.store
        columns, store_seconds = await store.read(parsed.post_ids)
        posts: list[PostIn] = [
            {ID_COLUMN: post_id, **{field: columns[field][row] for field in POST_FIELDS}}  # type: ignore[typeddict-item]
            for row, post_id in enumerate(parsed.post_ids)
        ]
        return ranked(rollout, posts, parsed.user_id, validated, store_seconds)

    def ranked(
        rollout: Rollout,
        posts: list[PostIn],
        user_id: str | None,
        validate_seconds: float,
        store_seconds: float | None = None,
    ) -> Response:
        """The ranking of valid ``posts``, with its timings and the work after the response.

        Raises:
            ApiError: 503 ``model_error`` when the model raised.
        """
        try:
            ranking = rollout.rank(posts, user_id)
        except ModelFailure as failure:
            metrics.s.model_errors.inc()
            log.exception("%s", failure)  # the traceback shows the model's own exception
            raise ApiError(
                503,
                "model_error",
                f"the model failed to score these posts ({type(failure.__cause__).__name__}); "
                "the request was valid and nothing was ranked. Retry, or fall back to your "
                "own ordering",
                headers=RETRY_AFTER,
            ) from None
        scored = time.perf_counter()
        served = ranking.served
        content = ranking_json(
            served.version,
            posts,
            ranking.scored.probabilities.tolist(),
            ranking.unknown,
            served.notes(posts, ranking.unknown),
        )
        timings = StageTimings(
            validate=validate_seconds,
            featurise=ranking.scored.featurise_seconds,
            predict=ranking.scored.predict_seconds,
            serialise=time.perf_counter() - scored,
            store=store_seconds,
        )
        outcome = RankOutcome(
            version=served.version,
            role=ranking.role,
            columns=ranking.table,
            scores=ranking.scored.probabilities,
            n_unknown_subreddits=sum(ranking.unknown),
            timings=timings,
        )
        return Response(
            content,
            media_type=JSON,
            headers={"Server-Timing": timings.server_timing()},
            background=BackgroundTask(rollout.after, outcome),
        )

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
        """200 once loaded; after a failure on /rank, only while the self-check passes."""
        champion = _rollout(request).champion
        if champion.failing and not champion.self_check():
            raise ApiError(
                503,
                "model_error",
                f"model {champion.version} raised on /rank and now fails its self-check",
                headers=RETRY_AFTER,
            )
        store: PostStore = request.app.state.store
        return Response(
            orjson.dumps(
                {
                    "status": "ready",
                    "model_version": champion.version,
                    "feature_store": await store.status(),
                }
            ),
            media_type=JSON,
        )

    @app.get(
        "/model",
        response_model=ModelInfo,
        responses={503: {"model": ErrorBody, "description": "Model not loaded yet."}},
        summary="The deployed model: version, features, training metrics",
    )
    async def model_info(request: Request) -> Response:
        info = _rollout(request).champion.info()
        return Response(orjson.dumps(info.model_dump()), media_type=JSON)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
        summary="Prometheus metrics",
    )
    async def metrics_route() -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    # FastAPI's documented way to extend the generated document ("Extending OpenAPI")
    app.openapi = _openapi_with_rank_body(app)  # type: ignore[method-assign]
    return app


def _rollout(request: Request) -> Rollout:
    rollout: Rollout | None = request.app.state.rollout
    if rollout is None:
        raise not_ready()
    return rollout


async def read_body(request: Request, settings: Settings) -> bytes:
    """The JSON body, refused as a client would fix it: media type (415), encoding (415), size
    (413, from ``Content-Length`` before reading, else as the bytes arrive), deadline (408).

    FastAPI's own ``max_body_size`` answers a declared oversized body in plain text, so the
    limit is checked here, where the answer is the error body.

    Raises:
        ApiError: The status above, with the error body.
        ClientDisconnect: The client left mid-body (recorded as 499).
    """
    content_types = request.headers.getlist("content-type")
    if len(set(content_types)) > 1:
        raise ApiError(
            400,
            "conflicting_content_type",
            f"{len(content_types)} different Content-Type headers; send exactly one",
        )
    _check_content_type(content_types[0] if content_types else None)
    _check_content_encoding(request.headers.get("content-encoding"))
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"the request body did not arrive within {settings.body_timeout:g} s",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _check_content_type(content_type: str | None) -> None:
    """``application/json`` (or ``*/*+json``), UTF-8 only; a missing header is read as JSON."""
    if not content_type:
        return
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {media_type or 'nothing'!r} "
            "(with curl, add -H 'Content-Type: application/json')",
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise ApiError(
                415, "unsupported_media_type", f"JSON must be UTF-8, got charset={charset!r}"
            )


def _check_content_encoding(content_encoding: str | None) -> None:
    """Only an uncompressed body is accepted; a compressed one is refused by name."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity"):
        message = f"Content-Encoding {encoding!r} is not supported; send the JSON uncompressed"
        raise ApiError(415, "unsupported_content_encoding", f"{message} (a full request is ~15 KB)")


def _too_large(limit: int) -> ApiError:
    """413; the rest of the body is never read, so the connection cannot carry another request."""
    return ApiError(
        413,
        "payload_too_large",
        f"request body exceeds {limit} bytes; send at most {MAX_POSTS} posts per request",
        headers={"Connection": "close"},
    )


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
            body = TypeAdapter(RankBody).json_schema(ref_template=_SCHEMA_REF)
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
