"""The request path: validated posts -> column arrays -> features -> calibrated scores -> JSON.

It scores with the bundle's exported model (``bundle.lean``: NumPy only, no unpickling), in
the same order as ``LeanModel.predict_proba`` (split only to time each stage). Loading re-runs
the self-check recorded at training time and tests/test_api_parity.py compares HTTP scores
with the batch CLI's, so the service cannot drift from it. Columns are built with NumPy
directly: a pandas DataFrame per 20-post request would cost more than the model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from bundle.store import LoadedLeanModel, ModelLoadError, check_model, load_lean_model
from features.schema import (
    CATEGORY_COLUMN,
    ID_COLUMN,
    INPUT_COLUMNS,
    NUMERIC_COLUMNS,
    TEXT_COLUMN,
)
from serving.config import MAX_POSTS
from serving.parsing import parse_posts
from serving.schemas import ModelInfo, PostFields, PostIn

STAGES: Final = ("validate", "featurise", "predict", "serialise")
_METADATA_SHOWN_ELSEWHERE: Final = frozenset(
    {"model_version", "family", "feature_names", "metrics", "model_sha256", "self_check"}
)


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent in each stage of one /rank request."""

    validate: float
    featurise: float
    predict: float
    serialise: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(STAGES, self.as_tuple(), strict=True))

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.validate, self.featurise, self.predict, self.serialise)

    def server_timing(self) -> str:
        """A ``Server-Timing`` header value (milliseconds), readable in browser dev tools."""
        return ", ".join(
            f"{name};dur={seconds * 1e3:.3f}" for name, seconds in self.as_dict().items()
        )


@dataclass(frozen=True)
class RankOutcome:
    """A serialised /rank response and what it took to produce it.

    ``posts``, ``columns`` (what this model reads) and ``scores``, in request order, feed the
    drift window and shadow scoring, which run after the response is sent (``serving.rollout``).
    """

    body: bytes
    timings: StageTimings
    n_posts: int
    n_unknown_subreddits: int
    posts: list[PostFields]
    columns: dict[str, np.ndarray]
    scores: np.ndarray


class ModelFailure(RuntimeError):
    """The model raised (or returned non-finite scores) on posts that passed validation.

    The route answers 503 ``model_error`` rather than 500: the request was fine, the replica
    is not. Its ``__cause__`` is the model's own exception, logged with its traceback.
    """


class Ranker:
    """The loaded model plus everything needed to answer /rank and /model."""

    def __init__(self, loaded: LoadedLeanModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.version = loaded.version
        # set when the model last raised on /rank, cleared by a success or a passing self-check
        self.failing = False
        groups = self.model.features.groups
        # the columns the model reads (every group reads numbers), and the subreddit for flags
        self.input_columns = (*NUMERIC_COLUMNS, CATEGORY_COLUMN) + (
            (TEXT_COLUMN,) if "text" in groups else ()
        )
        uses_subreddit = "subreddit" in groups
        self.unknown_subreddit_fallback = (
            "scored with the training-set engagement rate (the target encoder's prior) in "
            "place of the subreddit's own rate"
            if uses_subreddit
            else "the deployed model does not use the subreddit, so its score is unaffected"
        )

    @classmethod
    def load(cls, model_dir: Path) -> Ranker:
        """Loads and self-checks a model directory (raises ``ModelLoadError``)."""
        return cls(load_lean_model(model_dir))

    def rank_body(self, body: bytes) -> RankOutcome:
        """Validates, scores and ranks a raw request body; the whole /rank request path.

        Raises:
            ApiError, RequestValidationError: The body breaks the contract (4xx).
            ModelFailure: The model raised on valid posts (503).
        """
        start = time.perf_counter()
        posts = parse_posts(body)
        validated = time.perf_counter()
        columns = posts_to_columns(posts, self.input_columns)
        known = self.model.features.known_subreddits_
        unknown = [post["subreddit"] not in known for post in posts]
        try:
            matrix = self.model.features.transform(columns)
            featurised = time.perf_counter()
            scores = self.model.calibrator(self.model.estimator.decision_function(matrix))
            score_list: list[float] = scores.tolist()
            if not all(map(math.isfinite, score_list)):
                raise ValueError("model produced non-finite scores")
        except Exception as error:
            self.failing = True
            raise ModelFailure(
                f"model {self.version} failed to score {len(posts)} post(s)"
            ) from error
        self.failing = False
        predicted = time.perf_counter()
        body_out = self.render(posts, score_list, unknown)
        done = time.perf_counter()
        return RankOutcome(
            body=body_out,
            timings=StageTimings(
                validate=validated - start,
                featurise=featurised - validated,
                predict=predicted - featurised,
                serialise=done - predicted,
            ),
            n_posts=len(posts),
            n_unknown_subreddits=sum(unknown),
            posts=posts,
            columns=columns,
            scores=scores,
        )

    def self_check(self) -> bool:
        """Re-scores the self-check posts stored at training time; clears ``failing`` if they
        still score as recorded. What /ready runs after a model failure."""
        try:
            check_model(self.model, self.loaded.metadata, f"model {self.version}")
        except ModelLoadError:
            return False
        self.failing = False
        return True

    def render(self, posts: list[PostFields], scores: list[float], unknown: list[bool]) -> bytes:
        """The response JSON: best first, ties in input order, unknown subreddits flagged.

        ``posts`` are the validated dicts, echoed as they are (``PostIn``'s fields and order).
        Python's sort is stable with ``reverse=True`` too, so ties keep their input order.
        """
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        ranked = [
            {
                "rank": rank,
                "post_id": posts[index]["post_id"],
                "score": scores[index],
                "unknown_subreddit": unknown[index],
                "post": posts[index],
            }
            for rank, index in enumerate(order, start=1)
        ]
        notes = []
        if any(unknown):
            names = sorted({posts[i]["subreddit"] for i, flag in enumerate(unknown) if flag})
            notes.append(
                f"{sum(unknown)} post(s) from subreddit(s) not seen in training "
                f"({', '.join(repr(name) for name in names)}): {self.unknown_subreddit_fallback}"
            )
        return orjson.dumps({"model_version": self.version, "ranked": ranked, "notes": notes})

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


def posts_to_columns(
    posts: Sequence[PostFields | PostIn], names: Sequence[str] = INPUT_COLUMNS
) -> dict[str, np.ndarray]:
    """The ``names`` columns with the dtypes training used: int64 id, float64 numbers, object
    text.

    The numbers go through one (columns, posts) array, each row a contiguous column, so NumPy
    takes the same vectorised loops as on the batch CLI's columns (identical results).
    """
    records: list[Mapping[str, Any]] = [
        post if isinstance(post, dict) else post.model_dump() for post in posts
    ]
    numeric = [name for name in NUMERIC_COLUMNS if name in names]
    numbers = np.array([[record[name] for record in records] for name in numeric], dtype=np.float64)
    columns = dict(zip(numeric, numbers, strict=True))
    for name in names:
        if name == ID_COLUMN:
            columns[name] = np.array([record[name] for record in records], dtype=np.int64)
        elif name in (TEXT_COLUMN, CATEGORY_COLUMN):
            text = np.empty(len(records), dtype=object)
            text[:] = [record[name] for record in records]
            columns[name] = text
    return columns
