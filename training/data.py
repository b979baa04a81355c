"""The fixed train / validation / test split and the cross-validation folds on train.

- train (70%): every fitted thing (features, models) and all model selection, by 5-fold CV.
- validation (15%): fits the probability calibrator; compares model families once more.
- test (15%): read only after every choice is made, to measure the frozen scorers.
Stratified on the label with a fixed seed, so every run sees the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.io import read_posts_csv
from features.schema import LABEL_COLUMN, SchemaError, take

SEED: Final = 42
TEST_FRACTION: Final = 0.15
VALIDATION_FRACTION: Final = 0.15
CV_FOLDS: Final = 5
EXPECTED_ROWS: Final = 50_000
EXPECTED_ENGAGEMENT_RATE: Final = (0.45, 0.58)


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """Validated posts (column arrays, label included) and its split."""

    posts: dict[str, np.ndarray]
    split: Split

    @property
    def y(self) -> np.ndarray:
        return self.posts[LABEL_COLUMN]

    def part(self, name: str) -> dict[str, np.ndarray]:
        rows: np.ndarray = getattr(self.split, name)
        return take(self.posts, rows)


def split_rows(y: np.ndarray, seed: int = SEED) -> Split:
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    train, validation = train_test_split(
        rest,
        test_size=VALIDATION_FRACTION / (1.0 - TEST_FRACTION),
        stratify=y[rest],
        random_state=seed,
    )
    return Split(np.sort(train), np.sort(validation), np.sort(test))


def cv_folds(y: np.ndarray, seed: int = SEED) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold (fit rows, held-out rows) pairs over positions in ``y``."""
    splitter = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    yield from splitter.split(np.zeros(len(y)), y)


def check_canonical(posts: dict[str, np.ndarray]) -> None:
    """Refuses data that is not the generator's: wrong size, no label, implausible base rate."""
    if LABEL_COLUMN not in posts:
        raise SchemaError(f"training data needs the {LABEL_COLUMN!r} label column")
    n = len(posts[LABEL_COLUMN])
    if n != EXPECTED_ROWS:
        raise SchemaError(f"expected {EXPECTED_ROWS:,} rows from generate_dataset.py, got {n:,}")
    rate = float(posts[LABEL_COLUMN].mean())
    low, high = EXPECTED_ENGAGEMENT_RATE
    if not low <= rate <= high:
        raise SchemaError(f"engagement rate {rate:.3f} is outside the expected [{low}, {high}]")
    if len(np.unique(posts["post_id"])) != n:
        raise SchemaError("post_id values are not unique")


def load_dataset(
    path: Path, seed: int = SEED, canonical: bool = True, feature_store: Path | None = None
) -> Dataset:
    """Reads, validates and splits the posts CSV.

    Args:
        path: CSV written by ``generate_dataset.py``.
        seed: Split seed.
        canonical: Also require the generator's row count and base rate (off for small test
            fixtures only).
        feature_store: A Feast ``feature_store.yaml``: the features then come from its offline
            store by point-in-time retrieval (the same values; ids and labels from ``path``).
    """
    if feature_store is None:
        posts = read_posts_csv(path)
    else:
        # Feast takes seconds to import: only a run that reads the store pays for it
        from features.feature_store import historical_posts, open_store

        posts = historical_posts(open_store(feature_store), path)
    if canonical:
        check_canonical(posts)
    elif LABEL_COLUMN not in posts:
        raise SchemaError(f"training data needs the {LABEL_COLUMN!r} label column")
    return Dataset(posts, split_rows(posts[LABEL_COLUMN], seed))
