"""Title signals: TF-IDF statistics, a cross-fitted TF-IDF engagement score, hashed n-grams."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

HASH_BUCKETS = 16
_NGRAMS = (1, 2)


def hashed_ngrams(titles: np.ndarray, buckets: int = HASH_BUCKETS) -> np.ndarray:
    """Dense hashed uni+bigram counts, L2-normalised: a stateless embedding (nothing to fit)."""
    vectorizer = HashingVectorizer(
        n_features=buckets, ngram_range=_NGRAMS, alternate_sign=False, norm="l2"
    )
    return np.asarray(vectorizer.transform(titles).toarray(), dtype=np.float64)


class TitleTfidf:
    """TF-IDF over title uni+bigrams, fitted on training rows only.

    Produces two columns: the mean IDF of a title's terms (how unusual its wording is) and a
    supervised engagement score, the logit of an L2 logistic regression on the TF-IDF vector.
    ``fit_transform`` cross-fits that score so no training row is scored by a model that saw
    its own label.
    """

    def __init__(self, folds: int = 5, seed: int = 0) -> None:
        self.folds = folds
        self.seed = seed
        self.vectorizer_: TfidfVectorizer | None = None
        self.classifier_: LogisticRegression | None = None

    def fit(self, titles: np.ndarray, y: np.ndarray) -> TitleTfidf:
        self.vectorizer_, self.classifier_ = self._fit_pair(titles, y)
        return self

    def transform(self, titles: np.ndarray) -> np.ndarray:
        if self.vectorizer_ is None or self.classifier_ is None:
            raise RuntimeError("TitleTfidf.transform called before fit")
        return self._columns(self.vectorizer_, self.classifier_, titles)

    def fit_transform(self, titles: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty((len(titles), 2), dtype=np.float64)
        # folds ignore the labels, so a row's own label can never move its own score
        splitter = KFold(self.folds, shuffle=True, random_state=self.seed)
        for fit_rows, held_rows in splitter.split(titles):
            vectorizer, classifier = self._fit_pair(titles[fit_rows], y[fit_rows])
            out[held_rows] = self._columns(vectorizer, classifier, titles[held_rows])
        self.fit(titles, y)
        return out

    @staticmethod
    def _fit_pair(titles: np.ndarray, y: np.ndarray) -> tuple[TfidfVectorizer, LogisticRegression]:
        vectorizer = TfidfVectorizer(ngram_range=_NGRAMS, sublinear_tf=True, min_df=5)
        matrix = vectorizer.fit_transform(titles)
        classifier = LogisticRegression(C=0.1, max_iter=1000).fit(matrix, y)
        return vectorizer, classifier

    @staticmethod
    def _columns(
        vectorizer: TfidfVectorizer, classifier: LogisticRegression, titles: np.ndarray
    ) -> np.ndarray:
        matrix = vectorizer.transform(titles)
        idf = vectorizer.idf_
        present = matrix.copy()
        present.data[:] = 1.0
        term_counts = np.asarray(present.sum(axis=1)).ravel()
        idf_sums = np.asarray(present @ idf).ravel()
        mean_idf = np.divide(
            idf_sums, term_counts, out=np.zeros_like(idf_sums), where=term_counts > 0
        )
        logit = classifier.decision_function(matrix)
        return np.column_stack([mean_idf, logit])
