"""Posts as feature columns: drawn like the generator's for the feature tests, or built from post
dicts as the service builds them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features.schema import INPUT_COLUMNS, KNOWN_SUBREDDITS
from serving.slate import Slate

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


def table_of(posts: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Post dicts as the model's columns, built by the service's own ``Slate.table``."""
    fields = {name: [post[name] for post in posts] for name in INPUT_COLUMNS}
    return Slate(posts, fields, None).table()
