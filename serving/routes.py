"""The routes: ``POST /rank``, ``POST /rank/ids`` and the operational ones, one function each.

Both ranking routes build a ``Slate`` (``serving.slate``) and hand it to ``ranked``, which
scores it, serialises the ranking and leaves the metrics and the challenger's shadow scoring
to run after the response has been sent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from pydantic import TypeAdapter
from starlette.background import BackgroundTask
from starlette.responses import Response

from serving.body import JSON, read_body
from serving.errors import ERROR_RESPONSES, RETRY_AFTER, ApiError, ErrorBody, not_ready
from serving.feature_store import PostStore
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import Metrics, RankOutcome, StageTimings
from serving.rollout import ModelFailure, Rollout
from serving.schemas import (
    USER_ID_HEADER,
    USER_ID_PARAMETER,
    HealthResponse,
    ModelInfo,
    RankIdsRequest,
    RankResponse,
    ReadyResponse,
)
from serving.settings import MAX_POSTS, Settings
from serving.slate import Slate, ids_request, rank_slate, ranking_json, stored_slate

RANK_PATH: Final = "/rank"
RANK_IDS_PATH: Final = "/rank/ids"
_HEALTH_BODY: Final = orjson.dumps({"status": "ok"})
RANK_IDS_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    **ERROR_RESPONSES,
    422: {
        "model": ErrorBody,
        "description": "`unknown_post_id`: ids the store does not hold, listed in `details`; "
        f"or the id list breaks the contract (1-{MAX_POSTS} distinct non-negative integers).",
    },
    503: {
        "model": ErrorBody,
        "description": f"{ERROR_RESPONSES[503]['description']} `store_unavailable`: the "
        "feature server failed or missed its deadline.",
    },
}
RANK_IDS_BODY: Final = {
    "required": True,
    "content": {JSON: {"schema": TypeAdapter(RankIdsRequest).json_schema()}},
}

log = logging.getLogger("feedrank.serving")
router = APIRouter()


@dataclass
class Service:
    """What the routes share: the settings and metrics from the start, and the models and
    the feature server's client once the lifespan has opened them."""

    settings: Settings
    metrics: Metrics
    rollout: Rollout | None = None
    store: PostStore | None = field(default=None)

    def ready(self) -> tuple[Rollout, PostStore]:
        """The models and the store, or 503 ``not_ready`` while the service is starting."""
        if self.rollout is None or self.store is None:
            raise not_ready()
        return self.rollout, self.store


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.post(
    RANK_PATH,
    response_model=RankResponse,
    responses=ERROR_RESPONSES,
    summary="Rank posts by predicted engagement",
    description="Scores each post and returns them best first, with per-stage timings in the "
    "`Server-Timing` header. See SERVING.md for the full contract.",
    openapi_extra={"parameters": [USER_ID_PARAMETER]},
)
async def rank(request: Request) -> Response:
    service = service_of(request)
    rollout, _ = service.ready()
    body = await read_body(request, service.settings)
    start = time.perf_counter()
    slate = rank_slate(body, request.headers.get(USER_ID_HEADER))
    return ranked(service.metrics, rollout, slate, time.perf_counter() - start)


@router.post(
    RANK_IDS_PATH,
    response_model=RankResponse,
    responses=RANK_IDS_RESPONSES,
    summary="Rank posts named by id, their fields read from the feature server",
    description="As `/rank`, with each post read from Feast's feature server; the `store` "
    "stage of `Server-Timing` is that read. See SERVING.md.",
    openapi_extra={"parameters": [USER_ID_PARAMETER], "requestBody": RANK_IDS_BODY},
)
async def rank_ids(request: Request) -> Response:
    service = service_of(request)
    rollout, store = service.ready()
    body = await read_body(request, service.settings)
    start = time.perf_counter()
    ids, user_id = ids_request(body, request.headers.get(USER_ID_HEADER))
    validated = time.perf_counter() - start
    columns, store_seconds = await store.read(ids)
    start = time.perf_counter()
    slate = stored_slate(ids, columns, user_id)
    validated += time.perf_counter() - start
    return ranked(service.metrics, rollout, slate, validated, store_seconds)


def ranked(
    metrics: Metrics,
    rollout: Rollout,
    slate: Slate,
    validate_seconds: float,
    store_seconds: float | None = None,
) -> Response:
    """The ranking of a valid slate, with its timings, and the work after the response.

    Raises:
        ApiError: 503 ``model_error`` when the model raised.
    """
    try:
        ranking = rollout.rank(slate)
    except ModelFailure as failure:
        metrics.rank.model_errors.inc()
        log.exception("%s", failure)  # the traceback shows the model's own exception
        raise ApiError(
            503,
            "model_error",
            f"the model failed to score these posts ({type(failure.__cause__).__name__}); the "
            "request was valid and nothing was ranked. Retry, or fall back to your own ordering",
            headers=RETRY_AFTER,
        ) from None
    scored = time.perf_counter()
    served = ranking.served
    scores = ranking.scored.probabilities.tolist()
    notes = served.notes(slate, ranking.unknown)
    content = ranking_json(served.version, slate, scores, ranking.unknown, notes)
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


@router.get("/health", response_model=HealthResponse, summary="Liveness: the process answers")
async def health() -> Response:
    return Response(_HEALTH_BODY, media_type=JSON)


@router.get(
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
    """200 once loaded; after a failure on /rank, only while the self-check passes. The
    feature server's state is reported beside it: /rank serves without it."""
    rollout, store = service_of(request).ready()
    champion = rollout.champion
    if champion.failing and not champion.self_check():
        raise ApiError(
            503,
            "model_error",
            f"model {champion.version} raised on /rank and now fails its self-check",
            headers=RETRY_AFTER,
        )
    status = {
        "status": "ready",
        "model_version": champion.version,
        "feature_store": await store.status(),
    }
    return Response(orjson.dumps(status), media_type=JSON)


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={503: {"model": ErrorBody, "description": "Model not loaded yet."}},
    summary="The deployed model: version, features, training metrics",
)
async def model_info(request: Request) -> Response:
    rollout, _ = service_of(request).ready()
    return Response(orjson.dumps(rollout.champion.info().model_dump()), media_type=JSON)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), media_type=METRICS_CONTENT_TYPE)
