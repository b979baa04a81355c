"""The exported scoring path: a bundle's ``scoring.json`` evaluated with NumPy alone.

``bundle.export`` reduces a trained ``RankingModel`` to plain numbers (TF-IDF vocabulary, idf
and classifier coefficients, the subreddit encoding, standardisation and coefficients, or
LightGBM's trees as flat arrays) and ``LeanModel`` scores posts from them with the operations
scikit-learn, SciPy and LightGBM perform, in the same order, so scores agree with
``RankingModel.predict_proba`` to the last bit in practice (tests/test_lean_parity.py bounds
them at 1e-9 for both families and every feature group). The service loads this instead of the
pickle: its image needs neither scikit-learn, SciPy nor LightGBM, and it never unpickles.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from bundle.scoring import CalibratedModel, Estimator, Family, LogisticModel, PlattCalibrator
from features import transforms
from features.schema import CATEGORY_COLUMN, TEXT_COLUMN, Posts

FORMAT: Final = "feedrank-scoring/1"
GROUPS: Final = ("raw", "decay", "interactions", "text", "subreddit")
RAW_COLUMNS: Final = ("score", "num_comments", "upvote_ratio", "post_age_hours", "author_karma")
# scikit-learn's default word tokenizer, after lower-casing; uni- and bigrams
_TOKEN: Final = re.compile(r"(?u)\b\w\w+\b")
# LightGBM's kZeroThreshold (a C float) for splits whose missing type is "Zero"
_LGB_ZERO: Final = float(np.float32(1e-35))
MISSING_CODES: Final = {"None": 0, "Zero": 1, "NaN": 2}


class ExportError(ValueError):
    """``scoring.json`` is malformed, or describes a model this module cannot evaluate."""


def title_ngrams(title: str) -> list[str]:
    """What ``TfidfVectorizer``/``HashingVectorizer(ngram_range=(1, 2))`` see in a title."""
    tokens = _TOKEN.findall(title.lower())
    return tokens + [f"{first} {second}" for first, second in itertools.pairwise(tokens)]


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 (x86, 32-bit, signed), as ``sklearn.utils.murmurhash3_32`` computes it."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    end = len(data) - len(data) % 4
    for start in range(0, end, 4):
        k = (int.from_bytes(data[start : start + 4], "little") * c1) & mask
        k = (((k << 15) | (k >> 17)) & mask) * c2 & mask
        h ^= k
        h = ((((h << 13) | (h >> 19)) & mask) * 5 + 0xE6546B64) & mask
    tail = data[end:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = (((k << 15) | (k >> 17)) & mask) * c2 & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


@functools.lru_cache(maxsize=65_536)
def hash_bucket(gram: str, buckets: int) -> int:
    """``HashingVectorizer``'s column for an n-gram (cached: titles repeat their words)."""
    h = murmurhash3_32(gram.encode("utf-8"))
    if h == -(1 << 31):
        return (2147483647 - (buckets - 1)) % buckets
    return abs(h) % buckets


def hashed_ngrams(titles: np.ndarray, buckets: int) -> np.ndarray:
    """L2-normalised hashed n-gram counts (integer counts: the norm is exact in any order)."""
    counts = np.zeros((len(titles), buckets), dtype=np.float64)
    for row, title in enumerate(titles):
        for gram in title_ngrams(title):
            counts[row, hash_bucket(gram, buckets)] += 1.0
    norms = np.sqrt((counts * counts).sum(axis=1))
    np.divide(counts, norms[:, None], out=counts, where=norms[:, None] > 0)
    return counts


@dataclass(frozen=True)
class TitleTfidf:
    """Mean idf of a title's vocabulary terms and the TF-IDF classifier's logit.

    Mirrors ``TfidfVectorizer(sublinear_tf=True, norm="l2")`` and
    ``LogisticRegression.decision_function`` on its sparse rows: terms in column order, sums
    accumulated left to right as SciPy's and scikit-learn's loops do.
    """

    vocabulary: Mapping[str, int]
    idf: Sequence[float]
    coef: Sequence[float]
    intercept: float

    def columns(self, titles: np.ndarray) -> np.ndarray:
        rows: list[list[tuple[int, int]]] = []
        for title in titles:
            counts: dict[int, int] = {}
            for gram in title_ngrams(title):
                column = self.vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            rows.append(sorted(counts.items()))
        flat_counts = np.fromiter((c for row in rows for _, c in row), dtype=np.float64)
        sublinear: list[float] = (np.log(flat_counts) + 1.0).tolist()
        idf, coef = self.idf, self.coef
        idf_sums = np.zeros(len(rows))
        term_counts = np.zeros(len(rows))
        logits = np.zeros((len(rows), 1))
        position = 0
        for index, row in enumerate(rows):
            values = [sublinear[position + k] * idf[column] for k, (column, _) in enumerate(row)]
            position += len(row)
            squares = 0.0
            idf_sum = 0.0
            for (column, _), value in zip(row, values, strict=True):
                squares += value * value
                idf_sum += idf[column]
            norm = math.sqrt(squares) if squares != 0.0 else 1.0
            logit = 0.0
            for (column, _), value in zip(row, values, strict=True):
                logit += (value / norm) * coef[column]
            idf_sums[index], term_counts[index], logits[index, 0] = idf_sum, len(row), logit
        mean_idf = np.divide(
            idf_sums, term_counts, out=np.zeros_like(idf_sums), where=term_counts > 0
        )
        return np.column_stack([mean_idf, (logits + self.intercept).ravel()])


@dataclass
class LeanFeatures:
    """``FeaturePipeline.transform`` for the fitted groups, from exported numbers.

    Not frozen, like ``FeaturePipeline``: fault-injection tests patch ``transform`` on it.
    """

    groups: tuple[str, ...]
    feature_names: tuple[str, ...]
    decay: transforms.DecaySpec
    known_subreddits_: frozenset[str]
    subreddit_encoding: Mapping[str, float]
    subreddit_prior: float
    tfidf: TitleTfidf | None
    hash_buckets: int

    def transform(self, posts: Posts) -> np.ndarray:
        """The feature matrix, filled column by column (no per-group stacking)."""
        age = posts["post_age_hours"]
        matrix = np.empty((len(age), len(self.feature_names)), dtype=np.float64)
        at = 0
        for group in self.groups:
            for columns in self._columns(group, posts, age):
                block = columns.reshape(len(age), -1)
                matrix[:, at : at + block.shape[1]] = block
                at += block.shape[1]
        if at != matrix.shape[1]:
            raise AssertionError("feature matrix columns disagree with feature_names")
        return matrix

    def _columns(self, group: str, posts: Posts, age: np.ndarray) -> list[np.ndarray]:
        """One group's columns in ``FeaturePipeline``'s order, computed as it computes them."""
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
            return self._text_columns(posts[TEXT_COLUMN])
        lookup, prior = self.subreddit_encoding.get, self.subreddit_prior
        subreddits = posts[CATEGORY_COLUMN]
        return [
            np.fromiter(
                (lookup(s, prior) for s in subreddits), dtype=np.float64, count=len(subreddits)
            )
        ]

    def unknown_subreddits(self, subreddits: np.ndarray) -> np.ndarray:
        """Mask of subreddits never seen in training (scored with the documented fallback)."""
        known = self.known_subreddits_
        return np.fromiter((s not in known for s in subreddits), bool, len(subreddits))

    def _text_columns(self, titles: np.ndarray) -> list[np.ndarray]:
        if self.tfidf is None:
            raise ExportError("the text group is enabled but scoring.json has no tfidf")
        return [
            transforms.title_length(titles),
            self.tfidf.columns(titles),
            hashed_ngrams(titles, self.hash_buckets),
        ]


@dataclass(frozen=True)
class TreeEnsemble:
    """LightGBM's raw score from its dumped trees: one flat node table, every tree at once.

    Leaves point to themselves, so ``depth`` rounds of "go left if x <= threshold" settle every
    (tree, row) pair; the leaf values are then summed tree by tree, in LightGBM's order.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int

    def decision_function(self, matrix: np.ndarray) -> np.ndarray:
        n_rows = matrix.shape[0]
        nodes = np.repeat(self.roots[:, None], n_rows, axis=1)
        rows = np.broadcast_to(np.arange(n_rows), nodes.shape)
        handles_missing = bool(self.missing.any())
        for _ in range(self.depth):
            x = matrix[rows, self.feature[nodes]]
            if handles_missing:
                go_left = self._missing_aware(nodes, x)
            else:
                go_left = x <= self.threshold[nodes]
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        # (trees, rows) summed over axis 0: sequential per row, as LightGBM adds tree outputs
        result: np.ndarray = self.value[nodes].sum(axis=0)
        return result

    def _missing_aware(self, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
        """LightGBM's NumericalDecision: NaN is 0 unless the split has a NaN branch; missing
        values (NaN, or near-zero for "Zero" splits) take the split's default side."""
        missing = self.missing[nodes]
        x = np.where(np.isnan(x) & (missing != MISSING_CODES["NaN"]), 0.0, x)
        is_missing = ((missing == MISSING_CODES["Zero"]) & (np.abs(x) <= _LGB_ZERO)) | (
            (missing == MISSING_CODES["NaN"]) & np.isnan(x)
        )
        result: np.ndarray = np.where(
            is_missing, self.default_left[nodes], x <= self.threshold[nodes]
        )
        return result


@dataclass(frozen=True)
class LeanModel(CalibratedModel[LeanFeatures]):
    """``RankingModel`` without its training objects: the features come from ``scoring.json``."""


def model_from_export(document: Mapping[str, Any]) -> LeanModel:
    """Builds a ``LeanModel`` from a parsed ``scoring.json``.

    Raises:
        ExportError: Another format, or a missing or malformed part (naming it).
    """
    if document.get("format") != FORMAT:
        raise ExportError(f"format is {document.get('format')!r}, expected {FORMAT!r}")
    try:
        return _build(document)
    except (KeyError, TypeError, ValueError) as error:
        raise ExportError(f"malformed scoring export: {error!r}") from error


def _build(document: Mapping[str, Any]) -> LeanModel:
    features = document["features"]
    groups = tuple(str(group) for group in features["groups"])
    if not groups or set(groups) - set(GROUPS):
        raise ExportError(f"unknown feature groups {groups}")
    text = features.get("tfidf")
    lean_features = LeanFeatures(
        groups=groups,
        feature_names=tuple(str(name) for name in features["feature_names"]),
        decay=transforms.DecaySpec(features["decay"]["form"], float(features["decay"]["param"])),
        known_subreddits_=frozenset(str(name) for name in features["known_subreddits"]),
        subreddit_encoding={str(k): float(v) for k, v in features["subreddit_encoding"].items()},
        subreddit_prior=float(features["subreddit_prior"]),
        tfidf=None
        if text is None
        else TitleTfidf(
            vocabulary={str(term): int(column) for term, column in text["vocabulary"].items()},
            idf=[float(v) for v in text["idf"]],
            coef=[float(v) for v in text["coef"]],
            intercept=float(text["intercept"]),
        ),
        hash_buckets=int(features["hash_buckets"]),
    )
    calibrator = PlattCalibrator(
        float(document["calibrator"]["slope"]), float(document["calibrator"]["intercept"])
    )
    family: Family = document["family"]
    return LeanModel(
        family, lean_features, estimator_from_export(document["estimator"]), calibrator
    )


def estimator_from_export(spec: Mapping[str, Any]) -> Estimator:
    """The estimator part of ``scoring.json``: logistic coefficients or a flat tree table."""
    if spec["kind"] == "logistic":
        return LogisticModel(
            mean=np.asarray(spec["mean"], dtype=np.float64),
            scale=np.asarray(spec["scale"], dtype=np.float64),
            coef=np.asarray(spec["coef"], dtype=np.float64),
            intercept=float(spec["intercept"]),
        )
    if spec["kind"] == "trees":
        nodes = spec["nodes"]
        return TreeEnsemble(
            feature=np.asarray(nodes["feature"], dtype=np.intp),
            threshold=np.asarray(nodes["threshold"], dtype=np.float64),
            left=np.asarray(nodes["left"], dtype=np.intp),
            right=np.asarray(nodes["right"], dtype=np.intp),
            default_left=np.asarray(nodes["default_left"], dtype=bool),
            missing=np.asarray(nodes["missing"], dtype=np.int8),
            value=np.asarray(nodes["value"], dtype=np.float64),
            roots=np.asarray(spec["roots"], dtype=np.intp),
            depth=int(spec["depth"]),
        )
    raise ExportError(f"unknown estimator kind {spec['kind']!r}")
