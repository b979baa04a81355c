"""The feature matrix: one definition used by training, batch scoring and serving.

Feature groups (the unit of the hold-one-group-out ablation):

- ``raw``: the post's numeric fields as they are.
- ``decay``: the fitted time-decay weight, Hacker News' power-law decay and log age.
- ``interactions``: products and ratios whose intuition is written next to each transform.
- ``text``: TF-IDF statistics, a cross-fitted TF-IDF engagement score, hashed n-grams.
- ``subreddit``: a smoothed, cross-fitted target encoding; unseen subreddits get the prior.

Every fitted piece (TF-IDF vocabulary and its classifier, the subreddit encoding) is fitted in
``fit``/``fit_transform`` on the rows passed in, which the callers keep to the training fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from sklearn.model_selection import KFold
from sklearn.preprocessing import TargetEncoder

from features import text, transforms
from features.schema import CATEGORY_COLUMN, TEXT_COLUMN, Posts
from features.transforms import DecaySpec

Group = Literal["raw", "decay", "interactions", "text", "subreddit"]
ALL_GROUPS: Final[tuple[Group, ...]] = ("raw", "decay", "interactions", "text", "subreddit")

_RAW: Final = ("score", "num_comments", "upvote_ratio", "post_age_hours", "author_karma")
GROUP_FEATURES: Final[Mapping[Group, tuple[str, ...]]] = {
    "raw": _RAW,
    "decay": ("age_decay", "hn_decay", "log_age"),
    "interactions": (
        "score_x_upvote_ratio",
        "comment_velocity",
        "decayed_log_score",
        "comments_per_point",
    ),
    "text": (
        "title_words",
        "title_mean_idf",
        "title_tfidf_logit",
        *(f"title_hash_{bucket:02d}" for bucket in range(text.HASH_BUCKETS)),
    ),
    "subreddit": ("subreddit_engagement",),
}


@dataclass(frozen=True)
class FeatureConfig:
    """Which feature groups to build and the decay curve fitted for ``age_decay``."""

    groups: tuple[Group, ...] = ALL_GROUPS
    decay: DecaySpec = field(default_factory=lambda: DecaySpec("exponential", 0.05))
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.groups) - set(ALL_GROUPS)
        if unknown or not self.groups:
            raise ValueError(
                f"groups must be a non-empty subset of {ALL_GROUPS}, got {self.groups}"
            )
        # keep a canonical order so the same set always yields the same columns
        object.__setattr__(self, "groups", tuple(g for g in ALL_GROUPS if g in self.groups))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for group in self.groups for name in GROUP_FEATURES[group])


class SubredditEncoder:
    """Smoothed engagement rate per subreddit; unknown subreddits fall back to the prior.

    ``fit_transform`` cross-fits (scikit-learn's ``TargetEncoder`` over label-blind K folds), so
    a training row's own label never feeds its encoding; ``transform`` is a dictionary lookup,
    cheap per request.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.encoding_: dict[str, float] = {}
        self.prior_: float = float("nan")

    def fit_transform(self, subreddits: np.ndarray, y: np.ndarray) -> np.ndarray:
        encoder = TargetEncoder(
            target_type="binary", cv=KFold(5, shuffle=True, random_state=self.seed)
        )
        encoded = encoder.fit_transform(subreddits.reshape(-1, 1), y)
        self.encoding_ = {
            str(category): float(value)
            for category, value in zip(encoder.categories_[0], encoder.encodings_[0], strict=True)
        }
        self.prior_ = float(encoder.target_mean_)
        return np.asarray(encoded, dtype=np.float64).ravel()

    def transform(self, subreddits: np.ndarray) -> np.ndarray:
        lookup = self.encoding_.get
        prior = self.prior_
        return np.fromiter(
            (lookup(s, prior) for s in subreddits), dtype=np.float64, count=len(subreddits)
        )


class FeaturePipeline:
    """Builds the feature matrix for the configured groups.

    Use ``fit_transform`` on training rows (supervised encoders are cross-fitted there) and
    ``transform`` on anything scored later: validation, test, batch files, API requests.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.title_tfidf = text.TitleTfidf(seed=config.seed)
        self.subreddit_encoder = SubredditEncoder(seed=config.seed)
        self.known_subreddits_: frozenset[str] = frozenset()
        self.is_fitted = False

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.config.feature_names

    def fit(self, posts: Posts, y: np.ndarray) -> FeaturePipeline:
        self.fit_transform(posts, y)
        return self

    def fit_transform(self, posts: Posts, y: np.ndarray) -> np.ndarray:
        groups = self.config.groups
        fitted: dict[Group, Callable[[], np.ndarray]] = {}
        if "text" in groups:
            tfidf = self.title_tfidf.fit_transform(posts[TEXT_COLUMN], y)
            fitted["text"] = lambda: self._text_block(posts, tfidf)
        if "subreddit" in groups:
            encoded = self.subreddit_encoder.fit_transform(posts[CATEGORY_COLUMN], y)
            fitted["subreddit"] = lambda: encoded.reshape(-1, 1)
        self.known_subreddits_ = frozenset(str(s) for s in np.unique(posts[CATEGORY_COLUMN]))
        self.is_fitted = True
        return self._assemble(posts, fitted)

    def transform(self, posts: Posts) -> np.ndarray:
        if not self.is_fitted:
            raise RuntimeError("FeaturePipeline.transform called before fit")
        fitted: dict[Group, Callable[[], np.ndarray]] = {
            "text": lambda: self._text_block(posts, self.title_tfidf.transform(posts[TEXT_COLUMN])),
            "subreddit": lambda: self.subreddit_encoder.transform(posts[CATEGORY_COLUMN]).reshape(
                -1, 1
            ),
        }
        return self._assemble(posts, fitted)

    def unknown_subreddits(self, subreddits: np.ndarray) -> np.ndarray:
        """Mask of subreddits never seen in training (scored with the documented fallback)."""
        known = self.known_subreddits_
        return np.fromiter((s not in known for s in subreddits), bool, len(subreddits))

    def _assemble(
        self, posts: Posts, fitted: Mapping[Group, Callable[[], np.ndarray]]
    ) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for group in self.config.groups:
            if group == "raw":
                blocks.append(np.column_stack([posts[column] for column in _RAW]))
            elif group == "decay":
                blocks.append(self._decay_block(posts))
            elif group == "interactions":
                blocks.append(self._interaction_block(posts))
            else:
                blocks.append(fitted[group]())
        matrix = np.hstack(blocks).astype(np.float64, copy=False)
        if matrix.shape[1] != len(self.feature_names):
            raise AssertionError("feature matrix columns disagree with feature_names")
        return matrix

    def _decay_block(self, posts: Posts) -> np.ndarray:
        age = posts["post_age_hours"]
        return np.column_stack([self.config.decay(age), transforms.hn_decay(age), np.log1p(age)])

    def _interaction_block(self, posts: Posts) -> np.ndarray:
        score, comments, age = posts["score"], posts["num_comments"], posts["post_age_hours"]
        return np.column_stack(
            [
                transforms.score_x_upvote_ratio(score, posts["upvote_ratio"]),
                transforms.comment_velocity(comments, age),
                transforms.decayed_score(score, self.config.decay(age)),
                transforms.comments_per_point(comments, score),
            ]
        )

    @staticmethod
    def _text_block(posts: Posts, tfidf_columns: np.ndarray) -> np.ndarray:
        titles = posts[TEXT_COLUMN]
        return np.column_stack(
            [transforms.title_length(titles), tfidf_columns, text.hashed_ngrams(titles)]
        )
