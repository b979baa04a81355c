"""``features/transform.py``: the feature matrix, its plain-data state and the text helpers.
Fitting, leakage included, is tests/features/test_fit.py; the formulas are
tests/features/test_transforms.py."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from features.fit import fit_features, fit_state
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
from tests.support.posts import make_posts


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


def test_unknown_subreddit_gets_the_prior_and_is_flagged() -> None:
    posts, y = make_posts(2000, seed=5)
    features, _ = fit_features(posts, y, ("subreddit",))
    probe = {column: values[:2].copy() for column, values in posts.items()}
    probe["subreddit"] = np.array(["AskReddit", "definitely_not_a_sub"], dtype=object)
    encoded = features.transform(probe)[:, 0]
    assert encoded[1] == pytest.approx(y.mean())
    assert encoded[0] != encoded[1]
    np.testing.assert_array_equal(features.unknown_subreddits(probe["subreddit"]), [False, True])
