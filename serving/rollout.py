"""Champion/challenger: shadow scoring and a deterministic A/B split by user.

Settings (read once at start-up; a bad combination stops it with one line):

- ``FEEDRANK_CHALLENGER_DIR``: a second bundle, loaded and self-checked like the champion.
- ``FEEDRANK_CHALLENGER_MODE``: ``shadow`` or ``ab``.
- ``FEEDRANK_CHALLENGER_SHARE``: in ``[0, 1]``. In shadow mode the share of requests the
  challenger also scores; in ab mode the share of users it ranks for.

Shadow scoring runs after the champion's response has been sent (a Starlette background task),
so it never changes or delays that response; whatever the challenger does, including raising,
only moves its own metrics. A/B assignment hashes the user id (``X-User-Id`` header, else
``user_id`` in the ``{"posts": ...}`` body) with the challenger's version as salt: the same user
gets the same arm in every request, worker and restart, a larger share keeps every user already
treated, and a new challenger reshuffles users. Requests without a user id go to the champion,
and so does a treated request on which the challenger raises.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.background import BackgroundTask

from bundle.store import ModelLoadError
from serving.config import ConfigError
from serving.metrics import Metrics
from serving.model import ModelFailure, Ranker, RankOutcome, posts_to_columns

CHALLENGER_DIR_ENV: Final = "FEEDRANK_CHALLENGER_DIR"
MODE_ENV: Final = "FEEDRANK_CHALLENGER_MODE"
SHARE_ENV: Final = "FEEDRANK_CHALLENGER_SHARE"
USER_HEADER: Final = "x-user-id"
MAX_USER_ID_CHARS: Final = 256
ERROR_LOG_INTERVAL_SECONDS: Final = 60.0
Mode = Literal["shadow", "ab"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)

log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class RolloutSettings:
    """The challenger, if any: where it is, how it takes traffic and how much."""

    challenger_dir: Path | None = None
    mode: Mode = "shadow"
    share: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], champion_dir: Path) -> RolloutSettings:
        """Reads the three variables; raises ``ConfigError`` naming the one that is wrong."""
        directory = environ.get(CHALLENGER_DIR_ENV, "")
        mode, share = environ.get(MODE_ENV, ""), environ.get(SHARE_ENV, "")
        if not directory:
            if mode or share:
                raise ConfigError(f"{MODE_ENV} and {SHARE_ENV} need {CHALLENGER_DIR_ENV}")
            return cls()
        if mode not in MODES:
            raise ConfigError(f"{MODE_ENV}={mode!r} must be one of {', '.join(MODES)}")
        try:
            fraction = float(share)
        except ValueError:
            fraction = -1.0
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"{SHARE_ENV}={share!r} must be a number from 0 to 1")
        path = Path(directory)
        if path.resolve() == champion_dir.resolve():
            raise ConfigError(f"{CHALLENGER_DIR_ENV} is the champion's directory {champion_dir}")
        return cls(path, mode, fraction)


def in_treatment(user_id: str, salt: str, share: float) -> bool:
    """Whether ``user_id`` falls in the challenger's ``share``: a uniform draw from SHA-256.

    Python's ``hash`` is randomised per process; SHA-256 gives every worker and restart the
    same answer. Comparing one fixed draw with the share makes ramps nested.
    """
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall tau-b of two score vectors (NaN when either is constant or has < 2 items)."""
    upper = np.triu_indices(len(a), k=1)
    da = np.sign(a[:, None] - a[None, :])[upper]
    db = np.sign(b[:, None] - b[None, :])[upper]
    denominator = np.sqrt(float(np.count_nonzero(da)) * float(np.count_nonzero(db)))
    return float(np.sum(da * db) / denominator) if denominator > 0 else float("nan")


class _UserOnly(BaseModel):
    """Reads ``user_id`` from a body whose posts are validated later by the ranker."""

    model_config = ConfigDict(extra="ignore")

    user_id: Annotated[str, Field(max_length=MAX_USER_ID_CHARS)] | None = None


_USER_ONLY: Final = TypeAdapter(_UserOnly)


def body_user_id(body: bytes) -> str | None:
    """``user_id`` of a ``{"posts": ..., "user_id": ...}`` body, or None (any other body)."""
    if body.lstrip()[:1] != b"{":
        return None
    try:
        return _USER_ONLY.validate_json(body).user_id
    except ValidationError:
        return None


class Rollout:
    """Routes /rank to the champion or the challenger and runs the work after a response."""

    def __init__(
        self,
        champion: Ranker,
        challenger: Ranker | None,
        settings: RolloutSettings,
        metrics: Metrics,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.settings = settings
        self.metrics = metrics
        self._last_error_log = -ERROR_LOG_INTERVAL_SECONDS
        metrics.s.model_info.labels(champion.version, champion.model.family).set(1)
        metrics.watch_drift(champion.version, champion.loaded.metadata.get("drift"))
        if challenger is not None:
            metrics.s.rollout_info.labels(
                settings.mode, champion.version, challenger.version, f"{settings.share:g}"
            ).set(1)
            if settings.mode == "ab":
                metrics.watch_drift(challenger.version, challenger.loaded.metadata.get("drift"))

    @classmethod
    def load(
        cls, champion: Ranker, champion_dir: Path, metrics: Metrics, environ: Mapping[str, str]
    ) -> Rollout:
        """Reads the settings and loads the challenger (raises on anything wrong)."""
        settings = RolloutSettings.from_env(environ, champion_dir)
        challenger = None
        if settings.challenger_dir is not None:
            try:
                challenger = Ranker.load(settings.challenger_dir)
            except ModelLoadError as error:
                raise ConfigError(f"challenger ({CHALLENGER_DIR_ENV}): {error}") from error
            if challenger.version == champion.version:
                raise ConfigError(
                    f"challenger in {settings.challenger_dir} is the champion's version "
                    f"{champion.version}: nothing to compare"
                )
            log.info(
                "challenger %s (%s) from %s: %s, share %g",
                challenger.version,
                challenger.model.family,
                settings.challenger_dir,
                settings.mode,
                settings.share,
            )
        return cls(champion, challenger, settings, metrics)

    def rank(
        self, body: bytes, user_header: str | None
    ) -> tuple[RankOutcome, BackgroundTask | None]:
        """Ranks with the model this request belongs to; the task, if any, runs after the
        response is sent (shadow scoring, or a due batch of metrics).

        Raises:
            ApiError, RequestValidationError: The body breaks the contract (4xx).
            ModelFailure: The champion raised on valid posts (503).
        """
        challenger, settings = self.challenger, self.settings
        if challenger is not None and settings.mode == "ab" and settings.share > 0:
            user = user_header or body_user_id(body)
            if user and in_treatment(user, challenger.version, settings.share):
                try:
                    outcome = challenger.rank_body(body)
                except ModelFailure:
                    self._challenger_failed()
                else:
                    due = self.metrics.observe_rank(outcome, challenger.version, "challenger")
                    return outcome, self._after(due, None)
        outcome = self.champion.rank_body(body)
        due = self.metrics.observe_rank(outcome, self.champion.version, "champion")
        shadow = challenger is not None and settings.mode == "shadow"
        if shadow and random.random() < settings.share:
            return outcome, self._after(due, outcome)
        return outcome, self._after(due, None)

    def _after(self, flush: bool, shadow: RankOutcome | None) -> BackgroundTask | None:
        """Nothing (most requests), or a task for the event loop once the response is out."""
        if not flush and shadow is None:
            return None
        return BackgroundTask(self._run_after, flush, shadow)

    async def _run_after(self, flush: bool, shadow: RankOutcome | None) -> None:
        """Async, so it runs in the event loop: no thread hop, no locks."""
        if shadow is not None and self.challenger is not None:
            self._shadow(self.challenger, shadow)
        if flush:
            self.metrics.flush()

    def _shadow(self, challenger: Ranker, outcome: RankOutcome) -> None:
        start = time.perf_counter()
        try:
            columns = posts_to_columns(outcome.posts, challenger.input_columns)
            scores = challenger.model.predict_proba(columns)
            if scores.shape != outcome.scores.shape or not np.isfinite(scores).all():
                raise ValueError(f"challenger returned unusable scores {scores!r}")
        except Exception:  # isolation: nothing the challenger does may escape
            self._challenger_failed()
            return
        self.metrics.observe_shadow(
            challenger.version,
            outcome.scores,
            scores,
            kendall_tau(outcome.scores, scores),
            time.perf_counter() - start,
        )

    def _challenger_failed(self) -> None:
        """Counts the failure; logs its traceback at most once a minute."""
        assert self.challenger is not None
        self.metrics.s.challenger_errors.labels(self.challenger.version, self.settings.mode).inc()
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_SECONDS:
            self._last_error_log = now
            log.exception(
                "challenger %s failed (%s mode); the champion answered. Further failures are "
                "counted in feedrank_challenger_errors_total and logged once a minute",
                self.challenger.version,
                self.settings.mode,
            )


def load_rollout(
    champion: Ranker, champion_dir: Path, metrics: Metrics, environ: Mapping[str, str] = os.environ
) -> Rollout:
    """Starts the metrics, then the rollout; what the app's start-up calls."""
    metrics.start(environ)
    return Rollout.load(champion, champion_dir, metrics, environ)
