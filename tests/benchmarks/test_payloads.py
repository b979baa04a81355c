"""``benchmarks/payloads.py``: the posts that benchmark.py, make perf and the tests send. Posts read
from the CSV keep the request schema's JSON types, and so do generated ones when it is absent."""

from __future__ import annotations

import json
import random
from pathlib import Path

from benchmarks.payloads import load_posts, slate_body, synthetic_posts
from serving.slate import rank_slate

FIELDS = {
    "post_id",
    "title",
    "subreddit",
    "score",
    "num_comments",
    "upvote_ratio",
    "post_age_hours",
    "author_karma",
}


def test_posts_from_the_csv_are_valid_requests(canonical_csv: Path) -> None:
    posts = load_posts(canonical_csv)
    assert posts and set(posts[0]) == FIELDS
    body = slate_body(posts, 20, random.Random(0))
    slate = rank_slate(body, None)
    assert len(slate) == 20
    assert len(set(slate.fields["post_id"])) == 20


def test_without_the_csv_the_posts_are_generated(tmp_path: Path) -> None:
    posts = load_posts(tmp_path / "absent.csv", synthetic_rows=50, seed=1)
    assert posts == synthetic_posts(50, seed=1)
    rank_slate(json.dumps(posts[:20]).encode(), None)
