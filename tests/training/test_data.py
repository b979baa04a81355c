"""Data contract: the CSV written by generate_dataset.py is the canonical one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import KNOWN_SUBREDDITS, TRAINING_COLUMNS
from training.data import EXPECTED_ROWS, check_canonical, load_dataset

# sha256 of data/posts.csv under the pinned numpy/pandas; a change means the data changed
CANONICAL_SHA256 = "a1bbcc5f91e96f9f694a10b9d391e435a962c296975114de09955b216f256c3a"
TITLE_WORDS = {
    "breaking", "new", "why", "how", "best", "worst", "top", "daily",
    "amazing", "free", "official", "weekly", "update", "thread", "discussion",
}  # fmt: skip


@pytest.fixture(scope="module")
def frame(canonical_csv: Path) -> pd.DataFrame:
    return pd.read_csv(canonical_csv)


def test_bytes_are_the_canonical_dataset(canonical_csv: Path) -> None:
    assert hashlib.sha256(canonical_csv.read_bytes()).hexdigest() == CANONICAL_SHA256


def test_columns_and_types(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == TRAINING_COLUMNS
    for column in ("post_id", "score", "num_comments", "author_karma", "engaged"):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    for column in ("upvote_ratio", "post_age_hours"):
        assert pd.api.types.is_float_dtype(frame[column]), column
    assert frame.notna().all().all()


def test_size_rate_and_ranges(frame: pd.DataFrame) -> None:
    assert len(frame) == EXPECTED_ROWS
    assert frame["post_id"].is_unique
    assert frame["engaged"].mean() == pytest.approx(0.513, abs=0.0005)
    assert frame["post_age_hours"].between(0.1, 720).all()
    assert frame["score"].between(1, 50_000).all()
    assert frame["num_comments"].between(0, 5_000).all()
    assert frame["upvote_ratio"].between(0, 1).all()
    assert frame["author_karma"].between(1, 499_999).all()
    assert set(frame["subreddit"]) == set(KNOWN_SUBREDDITS)


def test_titles_use_the_generator_vocabulary(frame: pd.DataFrame) -> None:
    words = frame["title"].str.split()
    assert words.map(len).between(3, 8).all()
    assert set(words.explode()) == TITLE_WORDS


def test_split_is_fixed_stratified_and_disjoint(canonical_csv: Path) -> None:
    first, second = load_dataset(canonical_csv), load_dataset(canonical_csv)
    split = first.split
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(split, part), getattr(second.split, part))
    rows = np.concatenate([split.train, split.validation, split.test])
    assert len(np.unique(rows)) == len(rows) == EXPECTED_ROWS
    rates = [first.y[getattr(split, part)].mean() for part in ("train", "validation", "test")]
    assert max(rates) - min(rates) < 0.002


def test_non_canonical_data_is_refused(canonical_csv: Path) -> None:
    dataset = load_dataset(canonical_csv)
    half = {column: values[: EXPECTED_ROWS // 2] for column, values in dataset.posts.items()}
    with pytest.raises(ValueError, match="expected 50,000 rows"):
        check_canonical(half)
