"""Fitting the feature transform's state with scikit-learn (training only).

``fit_features`` returns the fitted ``features.transform.Features`` and the training rows'
feature matrix. Fitted pieces (TF-IDF vocabulary, idf and classifier; the subreddit encoding)
see only the rows passed in, which callers keep to the training fold. On those rows the
supervised columns are cross-fitted: label-blind K folds, each held fold transformed by state
fitted on the other folds, so no training row is scored by state that saw its own label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.preprocessing import TargetEncoder

from features.schema import CATEGORY_COLUMN, TEXT_COLUMN, Posts, take
from features.transform import (
    ALL_GROUPS,
    Features,
    Group,
    TitleTfidf,
    canonical_groups,
    title_ngrams,
)
from features.transforms import DecaySpec

CROSS_FIT_FOLDS = 5
DEFAULT_DECAY = DecaySpec("exponential", 0.05)
_SUPERVISED: frozenset[Group] = frozenset({"text", "subreddit"})


def fit_features(
    posts: Posts,
    y: np.ndarray,
    groups: Sequence[Group] = ALL_GROUPS,
    decay: DecaySpec = DEFAULT_DECAY,
    seed: int = 0,
) -> tuple[Features, np.ndarray]:
    """The transform fitted on all of ``posts`` and their cross-fitted feature matrix."""
    features = fit_state(posts, y, groups, decay)
    if not _SUPERVISED & set(features.groups):
        return features, features.transform(posts)
    matrix = np.empty((len(y), len(features.feature_names)), dtype=np.float64)
    splitter = KFold(CROSS_FIT_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(np.arange(len(y)).reshape(-1, 1)):
        fold = fit_state(take(posts, fit_rows), y[fit_rows], features.groups, decay)
        matrix[held_rows] = fold.transform(take(posts, held_rows))
    return features, matrix


def fit_state(posts: Posts, y: np.ndarray, groups: Sequence[Group], decay: DecaySpec) -> Features:
    """The transform's state fitted on ``posts`` (no cross-fitting)."""
    groups = canonical_groups(groups)
    subreddits = posts[CATEGORY_COLUMN]
    if "subreddit" not in groups:
        known = tuple(sorted(str(s) for s in np.unique(subreddits)))
        return Features(groups, decay, known, tfidf=_fit_tfidf(posts, y, groups))
    encoder = TargetEncoder(target_type="binary").fit(subreddits.reshape(-1, 1), y)
    return Features(
        groups,
        decay,
        tuple(str(s) for s in encoder.categories_[0]),
        subreddit_encoding=np.asarray(encoder.encodings_[0], dtype=np.float64),
        subreddit_prior=float(encoder.target_mean_),
        tfidf=_fit_tfidf(posts, y, groups),
    )


def _fit_tfidf(posts: Posts, y: np.ndarray, groups: tuple[Group, ...]) -> TitleTfidf | None:
    """Vocabulary and idf over title n-grams seen in at least five titles, and an L2 logistic
    regression of the label on the TF-IDF rows."""
    if "text" not in groups:
        return None
    vectorizer = TfidfVectorizer(analyzer=title_ngrams, sublinear_tf=True, min_df=5)
    matrix = vectorizer.fit_transform(posts[TEXT_COLUMN])
    classifier = LogisticRegression(C=0.1, max_iter=1000).fit(matrix, y)
    return TitleTfidf(
        vocabulary={str(term): int(column) for term, column in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=np.asarray(classifier.coef_, dtype=np.float64).ravel(),
        intercept=float(classifier.intercept_[0]),
    )
