"""``POST /rank/ids``: its request type, and the posts read from the online feature store.

The posts' fields come from Feast's online API in this process (``features.feature_store``
defines them), so a read costs the store's own round trip and no extra HTTP hop to Feast's
feature server. Feast's read is synchronous for both stores (its async read exists for Redis
only), so it runs in a worker thread while the event loop keeps answering. A request waits at
most ``Settings.store_timeout`` for it, and at most ``STORE_READS`` reads run at once: a store
that stopped answering holds that many threads at most, each freed by the store client's own
timeout (``feature_repo/feature_store.redis.yaml``), and every request gets its 503 on time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from features.schema import ID_COLUMN, POST_FIELDS
from serving.errors import RETRY_AFTER, ApiError, ErrorDetail

if TYPE_CHECKING:
    from feast import FeatureStore

# reads in flight at once; more wait for a slot within their deadline
STORE_READS: Final = 8
# /ready's probe: any id will do, a read that answers proves the store is up
PROBE_ID: Final = 0

log = logging.getLogger("feedrank.serving")


class PostStore:
    """Reads posts by id from the online store, within a deadline, one thread per read."""

    def __init__(
        self,
        store: FeatureStore | None,
        problem: str,
        timeout: float,
        observe: Callable[[str, float], None],
        refs: list[str],
    ) -> None:
        self.store = store
        self.refs = refs
        self.problem = problem
        self.timeout = timeout
        self.observe = observe
        self.failing = False
        self._pool = ThreadPoolExecutor(STORE_READS, thread_name_prefix="feature-store")
        self._slots = asyncio.Semaphore(STORE_READS)

    @classmethod
    def open(cls, config: Path, timeout: float, observe: Callable[[str, float], None]) -> PostStore:
        """The store ``config`` describes with its registry loaded; one that cannot be opened
        is kept as the reason /rank/ids answers 503 (``/rank`` serves either way)."""
        try:
            # Feast is imported here, in the worker, after python -m serving has checked the
            # settings: importing it creates metrics in PROMETHEUS_MULTIPROC_DIR, which must be
            # a directory by then (features.feature_store keeps the rest of the import inert)
            from features.feature_store import FEATURE_REFS, POST_FEATURES, open_store

            store = open_store(config)
            store.get_feature_view(POST_FEATURES.name)
        except Exception as error:  # any failure of the store's own start-up
            problem = f"feature store {config} cannot be opened: {type(error).__name__}: {error}"
            log.warning(
                "%s; /rank/ids answers 503 until it is fixed and the service restarted", problem
            )
            return cls(None, problem, timeout, observe, [])
        return cls(store, "", timeout, observe, list(FEATURE_REFS))

    def warm_up(self) -> None:
        """Starts one read in the background: the first read sets up the store's client, which
        takes longer than a request's deadline."""
        if self.store is not None:
            self._pool.submit(self._warm)

    def _warm(self) -> None:
        try:
            self._online([PROBE_ID])
        except Exception as error:  # a store not up yet: requests will say so
            log.info("feature store not answering yet: %s: %s", type(error).__name__, error)

    def close(self) -> None:
        """Lets the process exit without waiting for reads nobody waits for any more."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def read(self, ids: list[int]) -> tuple[dict[str, list[Any]], float]:
        """The fields of the posts ``ids`` name as columns, in that order, and the seconds the
        read took.

        Raises:
            ApiError: 422 listing the ids the store does not hold; 503 when the store failed
                or missed the deadline.
        """
        start = time.perf_counter()
        columns = await self._read(ids, start)
        seconds = time.perf_counter() - start
        titles = columns[POST_FIELDS[0]]
        missing = [index for index, title in enumerate(titles) if title is None]
        self.observe("unknown" if missing else "ok", seconds)
        if missing:
            raise _unknown(ids, missing)
        return columns, seconds

    async def status(self) -> str:
        """``ok``, or why /rank/ids answers 503: what /ready reports."""
        try:
            await self._read([PROBE_ID], time.perf_counter())
        except ApiError as error:
            return error.message
        return "ok"

    async def _read(self, ids: list[int], start: float) -> dict[str, list[Any]]:
        if self.store is None:
            raise _unavailable(self.problem)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
                read = loop.run_in_executor(self._pool, self._online, ids)
                # the slot is freed when the thread is, not when the request stops waiting
                read.add_done_callback(self._finished)
                columns = await asyncio.shield(read)
        except TimeoutError:
            self._failed("timeout", start, f"no answer within {self.timeout:g} s")
        except Exception as error:  # the store's client raised: down, refused, corrupt
            self._failed("error", start, f"{type(error).__name__}: {error}")
        if self.failing:
            self.failing = False
            log.info("feature store answering again")
        return columns

    def _online(self, ids: list[int]) -> dict[str, list[Any]]:
        assert self.store is not None
        rows = [{ID_COLUMN: post_id} for post_id in ids]
        return self.store.get_online_features(features=self.refs, entity_rows=rows).to_dict()

    def _finished(self, read: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not read.cancelled():
            read.exception()  # retrieved here: a read nobody waits for any more may still fail

    def _failed(self, outcome: str, start: float, reason: str) -> NoReturn:
        self.observe(outcome, time.perf_counter() - start)
        if not self.failing:
            self.failing = True
            log.warning("feature store unavailable (%s); /rank/ids answers 503", reason)
        raise _unavailable(f"the feature store failed: {reason}")


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
