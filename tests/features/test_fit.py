"""``features/fit.py``: fitting the transform's state on a training fold, and only on it."""

from __future__ import annotations

import numpy as np

from features.fit import fit_features, fit_state
from features.transform import title_ngrams
from features.transforms import DecaySpec
from tests.support.posts import make_posts


def test_tfidf_columns_match_scikit_learn_on_the_fitted_vocabulary() -> None:
    """The applied TF-IDF logit equals the classifier's decision function on scikit-learn's
    TF-IDF rows for the same vocabulary (the fitted state is read, not re-derived)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    posts, y = make_posts(2000, seed=7)
    tfidf = fit_state(posts, y, ("text",), DecaySpec("exponential", 0.05)).tfidf
    assert tfidf is not None
    vectorizer = TfidfVectorizer(analyzer=title_ngrams, sublinear_tf=True, min_df=5)
    rows = vectorizer.fit_transform(posts["title"])
    assert vectorizer.vocabulary_ == tfidf.vocabulary
    expected = rows @ tfidf.coef + tfidf.intercept
    np.testing.assert_allclose(tfidf.columns(posts["title"])[:, 1], expected, rtol=0, atol=1e-12)


def test_fitted_state_ignores_rows_outside_the_training_fold() -> None:
    """Fitting on the train fold, then changing every validation row, changes nothing."""
    posts, y = make_posts(1200, seed=2)
    train, validation = np.arange(800), np.arange(800, 1200)
    train_posts = {column: values[train] for column, values in posts.items()}
    probe = {column: values[validation] for column, values in posts.items()}

    reference = fit_features(train_posts, y[train])[0].transform(probe)
    scrambled_y = y.copy()
    scrambled_y[validation] = 1 - scrambled_y[validation]
    scrambled_posts = {column: values.copy() for column, values in posts.items()}
    scrambled_posts["title"][validation] = "free free free"
    again, _ = fit_features(
        {column: values[train] for column, values in scrambled_posts.items()}, scrambled_y[train]
    )
    np.testing.assert_array_equal(again.transform(probe), reference)


def test_cross_fitted_encodings_never_see_their_own_label() -> None:
    posts, y = make_posts(1000, seed=3)
    groups = ("text", "subreddit")
    base = fit_features(posts, y, groups)[1]
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    changed = fit_features(posts, flipped, groups)[1]
    np.testing.assert_array_equal(changed[7], base[7])
    assert not np.array_equal(changed, base)  # other rows did learn from row 7


def test_supervised_title_score_learns_from_titles() -> None:
    posts, y = make_posts(3000, seed=4)
    features, matrix = fit_features(posts, y, ("text",))
    logit = matrix[:, features.feature_names.index("title_tfidf_logit")]
    has_free = np.char.count(posts["title"].astype(str), "free") > 0
    assert logit[has_free].mean() > logit[~has_free].mean() + 0.5
