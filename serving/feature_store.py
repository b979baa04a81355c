"""The posts ``POST /rank/ids`` names, read from Feast's feature server.

The posts' fields come from Feast's own feature server (``feast serve`` on ``feature_repo/``,
its ``POST /get-online-features``), so the service holds no Feast. Every read goes over one
pooled ``httpx.AsyncClient`` that the app's lifespan opens and closes. A request waits at most
``Settings.store_timeout`` for the answer: on time or not, it never waits on the feature server
longer, and a read cut off closes its connection, so no late answer lands on a reused one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import orjson
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from features.schema import FEATURE_REFS, FEATURE_VIEW, ID_COLUMN, POST_FIELDS
from serving.errors import RETRY_AFTER, ApiError, ErrorDetail

ONLINE_FEATURES_PATH: Final = "/get-online-features"
# the command that registers the post features and materializes them (features/feature_store.py)
FILL_COMMAND: Final = "python -m features.feature_store"
# Feast's status of a value the online store holds; any other (NOT_FOUND, NULL_VALUE,
# OUTSIDE_MAX_AGE) means the store has no usable post for that id, and so does a null value,
# which Feast's Redis store reports as PRESENT for an id it never held
PRESENT: Final = "PRESENT"
# /ready's probe: any id will do, an answer proves the feature server and its store are up
PROBE_ID: Final = 0
_REQUEST_HEADERS: Final = {"Content-Type": "application/json"}

log = logging.getLogger("feedrank.serving")


class _FeatureVector(TypedDict):
    values: list[Any]
    statuses: list[str]


class _Metadata(TypedDict):
    feature_names: list[str]


class _OnlineFeatures(TypedDict):
    """The feature server's answer: one vector per feature, named in ``metadata`` (in an order
    of the server's choosing), each value in the order of the ids asked for."""

    metadata: _Metadata
    results: list[_FeatureVector]


_ANSWER: Final = TypeAdapter(_OnlineFeatures)


class StoreFailure(Exception):
    """The feature server gave no usable answer; ``outcome`` labels the read in /metrics."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class PostStore:
    """Reads posts by id from Feast's feature server, within a deadline."""

    def __init__(
        self, client: httpx.AsyncClient, timeout: float, observe: Callable[[str, float], None]
    ) -> None:
        self.client = client
        self.url = str(client.base_url).rstrip("/")
        self.timeout = timeout
        self.observe = observe
        self.failing = False

    @classmethod
    def open(
        cls, feature_server: str, timeout: float, observe: Callable[[str, float], None]
    ) -> PostStore:
        """A store reading from ``feature_server`` (a base URL); nothing is sent until a read.

        The client's own timeouts are off: the deadline covers the whole read instead. It reads
        no proxy variables, so the settings stay the one reader of the environment.
        """
        client = httpx.AsyncClient(base_url=feature_server, timeout=None, trust_env=False)
        return cls(client, timeout, observe)

    async def close(self) -> None:
        await self.client.aclose()

    async def read(self, ids: list[int]) -> tuple[dict[str, list[Any]], float]:
        """The posts ``ids`` name, as columns keyed by ``POST_FIELDS`` (values in the order of
        ``ids``, with their JSON types), and the seconds the read took.

        Raises:
            ApiError: 422 ``unknown_post_id`` listing the ids the store does not hold; 503
                ``store_unavailable`` when the feature server is down, fails or misses the
                deadline.
        """
        start = time.perf_counter()
        try:
            columns, missing = await self._online(ids)
        except StoreFailure as failure:
            self.observe(failure.outcome, time.perf_counter() - start)
            if not self.failing:
                self.failing = True
                log.warning("feature store unavailable (%s); /rank/ids answers 503", failure)
            raise _unavailable(failure.reason) from None
        seconds = time.perf_counter() - start
        self.observe("unknown" if missing else "ok", seconds)
        if self.failing:
            self.failing = False
            log.info("feature store answering again")
        if missing:
            raise _unknown(ids, missing)
        return columns, seconds

    async def status(self) -> str:
        """``ok``, or why /rank/ids answers 503: what /ready reports."""
        try:
            await self._online([PROBE_ID])
        except StoreFailure as failure:
            return failure.reason
        return "ok"

    async def _online(self, ids: list[int]) -> tuple[dict[str, list[Any]], list[int]]:
        """The columns of ``ids`` and the indices of those the store does not hold.

        Raises:
            StoreFailure: No answer in time, or one that is not the posts' online features.
        """
        body = orjson.dumps({"features": FEATURE_REFS, "entities": {ID_COLUMN: ids}})
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.post(
                    ONLINE_FEATURES_PATH, content=body, headers=_REQUEST_HEADERS
                )
        except TimeoutError:
            raise StoreFailure(
                "timeout",
                f"the feature server at {self.url} gave no answer within {self.timeout:g} s",
            ) from None
        except httpx.HTTPError as error:
            raise StoreFailure(
                "error",
                f"the feature server at {self.url} cannot be reached ({type(error).__name__})",
            ) from None
        if response.status_code == httpx.codes.NOT_FOUND:
            raise StoreFailure(
                "error",
                f"the feature server at {self.url} does not hold {FEATURE_VIEW} (404): fill the "
                f"store with `{FILL_COMMAND}`",
            )
        if response.status_code != httpx.codes.OK:
            raise StoreFailure(
                "error", f"the feature server at {self.url} answered {response.status_code}"
            )
        return _columns(response.content, len(ids), self.url)


def _columns(content: bytes, rows: int, url: str) -> tuple[dict[str, list[Any]], list[int]]:
    """``POST_FIELDS``' values from the feature server's answer ``content`` for ``rows`` ids,
    and the indices of the ids it does not hold."""
    try:
        answer = _ANSWER.validate_json(content)
    except ValidationError:
        raise StoreFailure("error", f"the feature server at {url} answered no features") from None
    vectors = dict(zip(answer["metadata"]["feature_names"], answer["results"], strict=False))
    if any(
        field not in vectors
        or len(vectors[field]["values"]) != rows
        or len(vectors[field]["statuses"]) != rows
        for field in POST_FIELDS
    ):
        raise StoreFailure(
            "error", f"the feature server at {url} answered other features than {FEATURE_VIEW}'s"
        )
    missing = sorted(
        {
            row
            for field in POST_FIELDS
            for row, (status, value) in enumerate(
                zip(vectors[field]["statuses"], vectors[field]["values"], strict=True)
            )
            if status != PRESENT or value is None
        }
    )
    return {field: vectors[field]["values"] for field in POST_FIELDS}, missing


def _unavailable(reason: str) -> ApiError:
    return ApiError(
        503,
        "store_unavailable",
        f"{reason}; nothing was ranked. Retry, or send the posts to /rank",
        headers=RETRY_AFTER,
    )


def _unknown(ids: list[int], missing: list[int]) -> ApiError:
    listed = ", ".join(str(ids[index]) for index in missing)
    details = [
        ErrorDetail(
            item=index,
            loc=["body", "post_ids", index],
            type="unknown_post_id",
            message="not in the feature store",
            input=ids[index],
        )
        for index in missing
    ]
    return ApiError(
        422,
        "unknown_post_id",
        f"{len(missing)} post id(s) not in the feature store: {listed}",
        details,
    )
