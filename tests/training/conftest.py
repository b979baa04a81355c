"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.io import read_posts_csv
from features.schema import LABEL_COLUMN, take

SLICE_ROWS = 3_000


@pytest.fixture(scope="session")
def canonical_slice(canonical_csv: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The first canonical rows and their labels: enough for a stage to show the property the
    data-generating process makes true (the generator's logit is linear in age, titles and
    subreddits carry no signal)."""
    posts = take(read_posts_csv(canonical_csv), np.arange(SLICE_ROWS))
    y = posts.pop(LABEL_COLUMN)
    return posts, y
