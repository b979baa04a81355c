"""Unit tests for the feature transform, its fitting and its plain-data state, leakage included."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from features import transforms
from features.fit import fit_features, fit_state
from features.schema import KNOWN_SUBREDDITS
from features.transform import (
    ALL_GROUPS,
    GROUP_FEATURES,
    Features,
    FeatureStateError,
    feature_names,
    hash_bucket,
    hashed_ngrams,
    title_ngrams,
)
from features.transforms import DecaySpec, title_length

WORDS = np.array(["breaking", "new", "why", "how", "best", "worst", "top", "daily", "free"])


def make_posts(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Posts drawn like the generator's, with a label that depends on age and one title word."""
    rng = np.random.default_rng(seed)
    titles = np.array(
        [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)], dtype=object
    )
    posts = {
        "post_id": np.arange(n, dtype=np.int64),
        "title": titles,
        "subreddit": rng.choice(np.array(KNOWN_SUBREDDITS, dtype=object), size=n),
        "score": rng.integers(1, 5_000, size=n).astype(np.float64),
        "num_comments": rng.integers(0, 400, size=n).astype(np.float64),
        "upvote_ratio": rng.beta(9, 2, size=n),
        "post_age_hours": rng.exponential(24, size=n).clip(0.1, 720),
        "author_karma": rng.integers(1, 500_000, size=n).astype(np.float64),
    }
    log_odds = 1.0 - 0.05 * posts["post_age_hours"] + np.char.count(titles.astype(str), "free")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-log_odds))).astype(np.int64)
    return posts, y


def test_exponential_decay_and_half_life() -> None:
    decay = DecaySpec("exponential", np.log(2) / 16.0)
    assert decay.half_life_hours == pytest.approx(16.0)
    np.testing.assert_allclose(decay(np.array([0.0, 16.0, 32.0])), [1.0, 0.5, 0.25])


def test_power_decay_half_life_matches_curve() -> None:
    decay = DecaySpec("power", 1.8)
    ratio = decay(np.array([decay.half_life_hours]))[0] / decay(np.array([0.0]))[0]
    assert ratio == pytest.approx(0.5)


def test_interactions_follow_their_definitions() -> None:
    score, comments, age, ratio = (np.array([100.0, 0.0]), np.array([10.0, 5.0]),
                                   np.array([4.0, 0.0]), np.array([0.9, 0.5]))  # fmt: skip
    np.testing.assert_allclose(transforms.comment_velocity(comments, age), [2.0, 5.0])
    np.testing.assert_allclose(transforms.score_x_upvote_ratio(score, ratio), [90.0, 0.0])
    np.testing.assert_allclose(transforms.comments_per_point(comments, score), [10 / 101, 5.0])
    np.testing.assert_allclose(transforms.reddit_hot(np.array([10.0]), np.array([12.5])), [0.0])
    np.testing.assert_allclose(
        transforms.hacker_news_gravity(np.array([11.0]), np.array([0.0])), [10 * 2**-1.8]
    )


def test_text_helpers() -> None:
    titles = np.array(["new thread", "why how best top"], dtype=object)
    np.testing.assert_array_equal(title_length(titles), [2, 4])
    hashed = hashed_ngrams(titles)
    assert hashed.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(hashed, axis=1), 1.0)
    assert title_ngrams("New THREAD, a x") == ["new", "thread", "new thread"]
    assert hash_bucket("new thread") == zlib.crc32(b"new thread") % 16
    one = hashed_ngrams(np.array(["new"], dtype=object))[0]
    assert one[zlib.crc32(b"new") % 16] == 1.0


def test_matrix_matches_feature_names_for_every_group_set() -> None:
    posts, y = make_posts(600, seed=1)
    for groups in [ALL_GROUPS, ("raw",), ("text", "subreddit"), ("decay", "interactions")]:
        features, fitted = fit_features(posts, y, groups)
        assert fitted.shape == (600, len(features.feature_names))
        assert features.transform(posts).shape == fitted.shape
        assert np.isfinite(fitted).all()
    names = feature_names(("subreddit", "raw"))
    assert names == GROUP_FEATURES["raw"] + GROUP_FEATURES["subreddit"]


def test_invalid_groups_and_state_fail_with_one_line() -> None:
    with pytest.raises(FeatureStateError, match="groups must be a non-empty subset"):
        feature_names(())
    with pytest.raises(FeatureStateError, match="groups must be a non-empty subset"):
        feature_names(("raw", "colour"))  # type: ignore[arg-type]
    with pytest.raises(FeatureStateError, match="the text group needs a fitted tfidf"):
        Features(("text",), DecaySpec("exponential", 0.05), ("aww",))
    state = fit_state(*make_posts(300, seed=0), ALL_GROUPS, DecaySpec("power", 1.0)).to_dict()
    del state["tfidf"]["idf"]
    with pytest.raises(FeatureStateError, match="malformed feature state: KeyError"):
        Features.from_dict(state)


def test_state_round_trips_through_json_bit_for_bit() -> None:
    posts, y = make_posts(800, seed=6)
    features = fit_state(posts, y, ALL_GROUPS, DecaySpec("exponential", 0.07))
    again = Features.from_dict(json.loads(json.dumps(features.to_dict())))
    np.testing.assert_array_equal(again.transform(posts), features.transform(posts))
    assert again.known_subreddits_ == features.known_subreddits_


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


def test_unknown_subreddit_gets_the_prior_and_is_flagged() -> None:
    posts, y = make_posts(2000, seed=5)
    features, _ = fit_features(posts, y, ("subreddit",))
    probe = {column: values[:2].copy() for column, values in posts.items()}
    probe["subreddit"] = np.array(["AskReddit", "definitely_not_a_sub"], dtype=object)
    encoded = features.transform(probe)[:, 0]
    assert encoded[1] == pytest.approx(y.mean())
    assert encoded[0] != encoded[1]
    np.testing.assert_array_equal(features.unknown_subreddits(probe["subreddit"]), [False, True])
