"""The feature transform: posts -> feature matrix, from fitted state that is plain data.

The one definition used by training (after fitting, ``features.fit``), batch, Spark and the
service. Applying it needs NumPy and the standard library only, so the serving image carries no
scikit-learn or SciPy; its fitted state (TF-IDF vocabulary, idf and classifier coefficients, the
subreddit encoding, the decay curve) round-trips through JSON with ``to_dict``/``from_dict``.

Feature groups (the unit of the hold-one-group-out ablation):

- ``raw``: the post's numeric fields as they are (``schema.RAW_COLUMNS``).
- ``decay``: the fitted time-decay weight, Hacker News' power-law decay and log age.
- ``interactions``: products and ratios whose intuition is written next to each transform.
- ``text``: TF-IDF statistics, a cross-fitted TF-IDF engagement score, hashed n-grams.
- ``subreddit``: a smoothed, cross-fitted target encoding; unseen subreddits get the prior.
"""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast, get_args

import numpy as np

from features import transforms
from features.schema import CATEGORY_COLUMN, RAW_COLUMNS, TEXT_COLUMN, Posts
from features.transforms import DecaySpec

Group = Literal["raw", "decay", "interactions", "text", "subreddit"]
ALL_GROUPS: Final[tuple[Group, ...]] = get_args(Group)
HASH_BUCKETS: Final = 16
GROUP_FEATURES: Final[Mapping[Group, tuple[str, ...]]] = {
    "raw": RAW_COLUMNS,
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
        *(f"title_hash_{bucket:02d}" for bucket in range(HASH_BUCKETS)),
    ),
    "subreddit": ("subreddit_engagement",),
}
# words of two or more word characters, lower-cased; a title's n-grams are these and their pairs
_TOKEN: Final = re.compile(r"(?u)\b\w\w+\b")


class FeatureStateError(ValueError):
    """Fitted feature state that is malformed or inconsistent (names the part)."""


def canonical_groups(groups: Sequence[str]) -> tuple[Group, ...]:
    """``groups`` in ``ALL_GROUPS`` order, so the same set always yields the same columns.

    Raises:
        FeatureStateError: ``groups`` is empty or names an unknown group.
    """
    unknown = set(groups) - set(ALL_GROUPS)
    if unknown or not groups:
        raise FeatureStateError(f"groups must be a non-empty subset of {ALL_GROUPS}, got {groups}")
    return tuple(group for group in ALL_GROUPS if group in groups)


def feature_names(groups: Sequence[Group]) -> tuple[str, ...]:
    return tuple(name for group in canonical_groups(groups) for name in GROUP_FEATURES[group])


def title_ngrams(title: str) -> list[str]:
    """A title's uni- and bigrams: the terms of the TF-IDF vocabulary and of the hashed counts."""
    tokens = _TOKEN.findall(title.lower())
    return tokens + [f"{first} {second}" for first, second in itertools.pairwise(tokens)]


@functools.lru_cache(maxsize=65_536)
def hash_bucket(gram: str, buckets: int = HASH_BUCKETS) -> int:
    """An n-gram's bucket: CRC-32 of its UTF-8 bytes (cached: titles repeat their words)."""
    return zlib.crc32(gram.encode("utf-8")) % buckets


def hashed_ngrams(titles: np.ndarray, buckets: int = HASH_BUCKETS) -> np.ndarray:
    """L2-normalised hashed uni+bigram counts: a stateless embedding (nothing to fit)."""
    counts = np.zeros((len(titles), buckets), dtype=np.float64)
    for row, title in enumerate(titles):
        for gram in title_ngrams(title):
            counts[row, hash_bucket(gram, buckets)] += 1.0
    norms = np.sqrt((counts * counts).sum(axis=1))
    np.divide(counts, norms[:, None], out=counts, where=norms[:, None] > 0)
    return counts


@dataclass(frozen=True)
class TitleTfidf:
    """Sublinear, L2-normalised TF-IDF of a title's vocabulary terms, reduced to two columns:
    the mean idf of its terms (how unusual its wording is) and the logit of the TF-IDF
    classifier (a supervised engagement score)."""

    vocabulary: Mapping[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float

    def columns(self, titles: np.ndarray) -> np.ndarray:
        lookup = self.vocabulary.get
        rows: list[int] = []
        terms: list[int] = []
        for row, title in enumerate(titles):
            for gram in title_ngrams(title):
                column = lookup(gram)
                if column is not None:
                    rows.append(row)
                    terms.append(column)
        n = len(titles)
        # one entry per (row, term) with its count: tf = 1 + log(count), as sublinear TF-IDF
        pairs, counts = np.unique(
            np.asarray(rows, dtype=np.int64) * len(self.idf) + np.asarray(terms, dtype=np.int64),
            return_counts=True,
        )
        row_of, term_of = np.divmod(pairs, len(self.idf))
        idf = self.idf[term_of]
        weight = (1.0 + np.log(counts)) * idf
        norm = np.sqrt(np.bincount(row_of, weight * weight, minlength=n))
        norm[norm == 0.0] = 1.0
        logit = np.bincount(row_of, weight * self.coef[term_of], minlength=n) / norm
        n_terms = np.bincount(row_of, minlength=n).astype(np.float64)
        idf_sum = np.bincount(row_of, idf, minlength=n)
        mean_idf = np.divide(idf_sum, n_terms, out=np.zeros(n), where=n_terms > 0)
        return np.column_stack([mean_idf, logit + self.intercept])


@dataclass
class Features:
    """The fitted transform. ``subreddits`` are those seen in training (any other is unknown);
    ``subreddit_encoding`` (aligned with them) and ``tfidf`` exist when their group does.

    Not frozen: fault-injection tests patch ``transform`` on an instance.
    """

    groups: tuple[Group, ...]
    decay: DecaySpec
    subreddits: tuple[str, ...]
    subreddit_encoding: np.ndarray | None = None
    subreddit_prior: float = 0.0
    tfidf: TitleTfidf | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.groups = canonical_groups(self.groups)
        self._names = feature_names(self.groups)
        self._index = {name: position for position, name in enumerate(self.subreddits)}
        if "text" in self.groups and self.tfidf is None:
            raise FeatureStateError("the text group needs a fitted tfidf")
        if "subreddit" in self.groups and (
            self.subreddit_encoding is None or len(self.subreddit_encoding) != len(self.subreddits)
        ):
            raise FeatureStateError("the subreddit group needs one encoding per known subreddit")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def known_subreddits_(self) -> frozenset[str]:
        return frozenset(self.subreddits)

    def unknown_subreddits(self, subreddits: np.ndarray) -> np.ndarray:
        """Mask of subreddits never seen in training (scored with the documented fallback)."""
        return self._subreddit_positions(subreddits) < 0

    def _subreddit_positions(self, subreddits: np.ndarray) -> np.ndarray:
        lookup = self._index.get
        return np.fromiter((lookup(s, -1) for s in subreddits), np.intp, len(subreddits))

    def transform(self, posts: Posts) -> np.ndarray:
        """The feature matrix, filled group by group in ``feature_names`` order."""
        age = posts["post_age_hours"]
        matrix = np.empty((len(age), len(self._names)), dtype=np.float64)
        at = 0
        for group in self.groups:
            for column in self._columns(group, posts, age):
                block = column.reshape(len(age), -1)
                matrix[:, at : at + block.shape[1]] = block
                at += block.shape[1]
        if at != matrix.shape[1]:
            raise AssertionError("feature matrix columns disagree with feature_names")
        return matrix

    def _columns(self, group: Group, posts: Posts, age: np.ndarray) -> list[np.ndarray]:
        if group == "raw":
            return [posts[column] for column in RAW_COLUMNS]
        if group == "decay":
            return [self.decay(age), transforms.hn_decay(age), np.log1p(age)]
        if group == "interactions":
            score, comments = posts["score"], posts["num_comments"]
            return [
                transforms.score_x_upvote_ratio(score, posts["upvote_ratio"]),
                transforms.comment_velocity(comments, age),
                transforms.decayed_score(score, self.decay(age)),
                transforms.comments_per_point(comments, score),
            ]
        if group == "text":
            titles = posts[TEXT_COLUMN]
            tfidf = cast(TitleTfidf, self.tfidf)
            return [transforms.title_length(titles), tfidf.columns(titles), hashed_ngrams(titles)]
        positions = self._subreddit_positions(posts[CATEGORY_COLUMN])
        encoding = cast(np.ndarray, self.subreddit_encoding)
        return [np.where(positions >= 0, encoding[positions], self.subreddit_prior)]

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-ready plain data (floats survive a round trip bit for bit)."""
        return {
            "groups": list(self.groups),
            "feature_names": list(self.feature_names),
            "decay": {"form": self.decay.form, "param": float(self.decay.param)},
            "subreddits": list(self.subreddits),
            "subreddit_encoding": None
            if self.subreddit_encoding is None
            else _floats(self.subreddit_encoding),
            "subreddit_prior": float(self.subreddit_prior),
            "tfidf": None
            if self.tfidf is None
            else {
                "vocabulary": dict(self.tfidf.vocabulary),
                "idf": _floats(self.tfidf.idf),
                "coef": _floats(self.tfidf.coef),
                "intercept": float(self.tfidf.intercept),
            },
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Features:
        """Rebuilds the transform written by ``to_dict``.

        Raises:
            FeatureStateError: A missing or malformed part, named.
        """
        try:
            features = cls._build(state)
            names = list(state["feature_names"])
        except FeatureStateError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise FeatureStateError(f"malformed feature state: {error!r}") from error
        if list(features.feature_names) != names:
            raise FeatureStateError("feature state's feature_names disagree with its groups")
        return features

    @classmethod
    def _build(cls, state: Mapping[str, Any]) -> Features:
        text, encoding = state["tfidf"], state["subreddit_encoding"]
        tfidf = None
        if text is not None:
            vocabulary = {str(term): int(column) for term, column in text["vocabulary"].items()}
            idf = np.asarray(text["idf"], dtype=np.float64)
            coef = np.asarray(text["coef"], dtype=np.float64)
            if idf.shape != coef.shape or any(not 0 <= c < len(idf) for c in vocabulary.values()):
                raise FeatureStateError("tfidf vocabulary, idf and coef do not line up")
            tfidf = TitleTfidf(vocabulary, idf, coef, float(text["intercept"]))
        decay = state["decay"]
        if decay["form"] not in get_args(transforms.DecayForm):
            raise FeatureStateError(f"unknown decay form {decay['form']!r}")
        return cls(
            groups=canonical_groups([str(group) for group in state["groups"]]),
            decay=DecaySpec(decay["form"], float(decay["param"])),
            subreddits=tuple(str(name) for name in state["subreddits"]),
            subreddit_encoding=None if encoding is None else np.asarray(encoding, dtype=np.float64),
            subreddit_prior=float(state["subreddit_prior"]),
            tfidf=tfidf,
        )


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
