"""The models being served: the champion and, optionally, a challenger in shadow or A/B mode.

``Rollout.rank`` picks the model a request belongs to and scores its posts; ``Rollout.after``
runs once the response has been sent (a background task): it queues the request's metrics and,
in shadow mode, scores a share of requests with the challenger, so nothing the challenger does,
including raising, changes or delays a response.

A/B assignment hashes the user id (``X-User-Id`` header, else ``user_id`` in the body) with the
challenger's version as salt: the same user gets the same arm in every request, worker and
restart, a larger share keeps every user already treated, and a new challenger reshuffles
users. Requests without a user id go to the champion, and so does a treated request on which
the challenger raises.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from bundle.scoring import Scored
from bundle.store import LoadedLeanModel, ModelLoadError, check_model, load_lean_model
from features.schema import CATEGORY_COLUMN, Posts
from serving.metrics import Metrics, RankOutcome
from serving.schemas import ModelInfo
from serving.settings import MAX_POSTS, ConfigError, Settings
from serving.slate import Slate

ERROR_LOG_INTERVAL_SECONDS: Final = 60.0
_METADATA_SHOWN_ELSEWHERE: Final = frozenset(
    {"model_version", "family", "feature_names", "metrics", "model_sha256", "self_check"}
)

log = logging.getLogger("feedrank.serving")


class ModelFailure(RuntimeError):
    """The model raised (or returned non-finite scores) on posts that passed validation.

    The route answers 503 ``model_error`` rather than 500: the request was fine, the replica
    is not. Its ``__cause__`` is the model's own exception, logged with its traceback.
    """


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


class ServedModel:
    """A verified bundle and what /rank, /ready and /model say about it."""

    def __init__(self, loaded: LoadedLeanModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.version = loaded.version
        # set when the model last raised on /rank, cleared by a success or a passing self-check
        self.failing = False
        self.unknown_subreddit_fallback = (
            "scored with the training-set engagement rate (the target encoder's prior) in "
            "place of the subreddit's own rate"
            if "subreddit" in self.model.features.groups
            else "the deployed model does not use the subreddit, so its score is unaffected"
        )

    @classmethod
    def load(cls, model_dir: Path) -> ServedModel:
        """Loads and self-checks a bundle directory.

        Raises:
            ModelLoadError: One line naming what is wrong, an unreadable file included.
        """
        try:
            return cls(load_lean_model(model_dir))
        except OSError as error:  # present but unreadable: permissions, I/O
            where = error.filename or model_dir
            raise ModelLoadError(f"{where} cannot be read: {error.strerror}") from error

    def score(self, slate: Slate) -> tuple[Posts, Scored]:
        """The slate's columns and calibrated scores.

        Raises:
            ModelFailure: The model raised, or returned a non-finite score.
        """
        table = slate.table()
        try:
            scored = self.model.score(table)
            if not np.isfinite(scored.probabilities).all():
                raise ValueError("model produced non-finite scores")
        except Exception as error:
            self.failing = True
            raise ModelFailure(
                f"model {self.version} failed to score {len(slate)} post(s)"
            ) from error
        self.failing = False
        return table, scored

    def notes(self, slate: Slate, unknown: list[bool]) -> list[str]:
        """Remarks for the response: which posts were scored with the fallback, and how."""
        if not any(unknown):
            return []
        subreddits = slate.fields[CATEGORY_COLUMN]
        names = sorted({name for name, flag in zip(subreddits, unknown, strict=True) if flag})
        return [
            f"{sum(unknown)} post(s) from subreddit(s) not seen in training "
            f"({', '.join(repr(name) for name in names)}): {self.unknown_subreddit_fallback}"
        ]

    def self_check(self) -> bool:
        """Re-scores the self-check posts stored at training time; clears ``failing`` if they
        still score as recorded. What /ready runs after a model failure."""
        try:
            check_model(self.model, self.loaded.metadata, f"model {self.version}")
        except ModelLoadError:
            return False
        self.failing = False
        return True

    def info(self) -> ModelInfo:
        metadata = self.loaded.metadata
        return ModelInfo(
            model_version=self.version,
            family=str(metadata.get("family", self.model.family)),
            feature_names=list(self.model.features.feature_names),
            metrics=dict(metadata.get("metrics") or {}),
            model_sha256=str(metadata.get("model_sha256", "")),
            known_subreddits=sorted(self.model.features.known_subreddits_),
            unknown_subreddit_fallback=self.unknown_subreddit_fallback,
            max_posts=MAX_POSTS,
            metadata={k: v for k, v in metadata.items() if k not in _METADATA_SHOWN_ELSEWHERE},
        )


@dataclass(frozen=True)
class Ranking:
    """What ``Rollout.rank`` produced: the model that answered and its scores."""

    served: ServedModel
    role: str
    table: Posts
    scored: Scored
    unknown: list[bool]


class Rollout:
    """Routes /rank to the champion or the challenger and runs the work after a response."""

    def __init__(
        self,
        champion: ServedModel,
        challenger: ServedModel | None,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.mode = settings.challenger_mode
        self.share = settings.challenger_share or 0.0
        self.metrics = metrics
        self._last_error_log = -ERROR_LOG_INTERVAL_SECONDS
        metrics.rollout.model_info.labels(champion.version, champion.model.family).set(1)
        metrics.watch_drift(champion.version, champion.loaded.metadata.get("drift"))
        if challenger is not None:
            metrics.rollout.rollout_info.labels(
                self.mode, champion.version, challenger.version, f"{self.share:g}"
            ).set(1)
            if self.mode == "ab":
                metrics.watch_drift(challenger.version, challenger.loaded.metadata.get("drift"))

    @classmethod
    def load(cls, settings: Settings, metrics: Metrics) -> Rollout:
        """Loads the models (``load_models``) and starts their series in ``metrics``."""
        champion, challenger = load_models(settings)
        return cls(champion, challenger, settings, metrics)

    def rank(self, slate: Slate) -> Ranking:
        """Scores the slate with the model its user belongs to.

        Raises:
            ModelFailure: The champion raised on valid posts (503).
        """
        challenger = self.challenger
        if (
            challenger is not None
            and self.mode == "ab"
            and slate.user_id
            and in_treatment(slate.user_id, challenger.version, self.share)
        ):
            try:
                return self._ranking(challenger, "challenger", slate)
            except ModelFailure:
                self._challenger_failed()
        return self._ranking(self.champion, "champion", slate)

    @staticmethod
    def _ranking(served: ServedModel, role: str, slate: Slate) -> Ranking:
        table, scored = served.score(slate)
        unknown = served.model.features.unknown_subreddits(table[CATEGORY_COLUMN]).tolist()
        return Ranking(served, role, table, scored, unknown)

    async def after(self, outcome: RankOutcome) -> None:
        """Runs in the event loop once the response is out: metrics, then shadow scoring."""
        self.metrics.observe_rank(outcome)
        if self.challenger is not None and self.mode == "shadow" and random.random() < self.share:
            self._shadow(self.challenger, outcome)

    def _shadow(self, challenger: ServedModel, outcome: RankOutcome) -> None:
        start = time.perf_counter()
        try:
            scores = challenger.model.predict_proba(outcome.columns)
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
        self.metrics.rollout.challenger_errors.labels(self.challenger.version, self.mode).inc()
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_SECONDS:
            self._last_error_log = now
            log.exception(
                "challenger %s failed (%s mode); the champion answered. Further failures are "
                "counted in feedrank_challenger_errors_total and logged once a minute",
                self.challenger.version,
                self.mode,
            )


def load_models(settings: Settings) -> tuple[ServedModel, ServedModel | None]:
    """The champion and the challenger, if any, loaded and self-checked.

    Raises:
        ModelLoadError: The champion's bundle is missing, corrupt or fails its self-check.
        ConfigError: The challenger's is, or it is the champion's version.
    """
    champion = ServedModel.load(settings.model_dir)
    if settings.challenger_dir is None:
        return champion, None
    try:
        challenger = ServedModel.load(settings.challenger_dir)
    except ModelLoadError as error:
        raise ConfigError(f"challenger: {error}") from error
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
        settings.challenger_mode,
        settings.challenger_share,
    )
    return champion, challenger
