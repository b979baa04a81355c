"""Realistic /rank request bodies for the benchmarks, ``benchmark.py`` and the tests.

Slates are sampled from ``data/posts.csv`` (the label dropped) so titles, subreddits and
numeric ranges match production-like traffic; when the file is absent, posts are drawn from
distributions shaped like the generator's. Each field's JSON type comes from
``features.schema.POST_SCHEMA``; that module and this one need no package at run time, so the
benchmark client needs nothing beyond httpx and tqdm.
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any, Final

from features.schema import KNOWN_SUBREDDITS, POST_SCHEMA

DEFAULT_DATA: Final = Path("data/posts.csv")
# the largest slate /rank accepts (serving.settings.MAX_POSTS, which needs more than the
# benchmark client installs)
MAX_POSTS: Final = 20
_WORDS: Final = (
    "breaking", "new", "why", "how", "best", "worst", "top", "daily",
    "amazing", "free", "official", "weekly", "update", "thread", "discussion",
)  # fmt: skip

Post = dict[str, Any]


def load_posts(path: Path = DEFAULT_DATA, synthetic_rows: int = 5_000, seed: int = 0) -> list[Post]:
    """Posts from the CSV if it exists, else ``synthetic_rows`` generated ones."""
    if not path.is_file():
        return synthetic_posts(synthetic_rows, seed)
    with path.open(newline="", encoding="utf-8") as handle:
        return [_typed(row) for row in csv.DictReader(handle)]


def describe_source(path: Path = DEFAULT_DATA) -> str:
    """Where ``load_posts(path)`` takes its posts from, for benchmark reports."""
    if path.is_file():
        return f"slates sampled from {path}"
    return f"slates generated ({path} is absent; shaped like generate_dataset.py)"


def synthetic_posts(n: int, seed: int = 0) -> list[Post]:
    """Posts shaped like ``generate_dataset.py``'s (heavy-tailed score, exponential age)."""
    rng = random.Random(seed)
    return [
        {
            "post_id": index,
            "title": " ".join(rng.choices(_WORDS, k=rng.randint(3, 8))),
            "subreddit": rng.choice(KNOWN_SUBREDDITS),
            "score": min(50_000, max(1, int(100 * (rng.paretovariate(1.5) - 1)))),
            "num_comments": min(5_000, int(rng.gammavariate(5, 19))),
            "upvote_ratio": round(rng.betavariate(9, 2), 4),
            "post_age_hours": min(720.0, max(0.1, rng.expovariate(1 / 24))),
            "author_karma": rng.randint(1, 499_999),
        }
        for index in range(n)
    ]


def slate_body(posts: list[Post], size: int, rng: random.Random) -> bytes:
    """A ``{"posts": [...]}`` body with ``size`` distinct posts."""
    return json.dumps({"posts": rng.sample(posts, size)}).encode()


def _typed(row: dict[str, str]) -> Post:
    """A CSV row with each field in its JSON type, as ``features.schema.POST_SCHEMA`` says."""
    post: Post = {}
    for field in POST_SCHEMA:
        text = row[field.name]
        if field.kind is str:
            post[field.name] = text
        elif field.kind is int:
            post[field.name] = int(float(text))
        else:
            value = float(text)
            post[field.name] = value if math.isfinite(value) else 0.0
    return post
