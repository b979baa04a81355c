"""Duplicate keys in ``/rank`` bodies: ``parse_rank_body`` refuses exactly the bodies that repeat
a key, as the standard library's parser sees them.

Bodies are written by hand so that they can repeat a key (plainly, with a space before the
colon, or spelt with a ``\\u`` escape), repeat ``posts``, or carry colons, quotes and key names
inside titles.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.schemas import parse_rank_body

FIELDS = (
    "post_id", "title", "subreddit", "score", "num_comments", "upvote_ratio", "post_age_hours",
    "author_karma",
)  # fmt: skip
TRICKY_TITLES = st.sampled_from(
    ["", "a: b", 'say "score": 1', "posts:", "title", "\\u0073core", "::::", "x\u2028y"]
)
titles = st.one_of(st.text(max_size=40), TRICKY_TITLES)


def key(name: str, style: str) -> str:
    if style == "escaped":  # the same key, spelt \u0073core
        return '"' + "".join(f"\\u{ord(c):04x}" if i == 0 else c for i, c in enumerate(name)) + '"'
    return f'"{name}" ' if style == "spaced" else f'"{name}"'


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(1, 20))
    posts = []
    for index in range(n):
        post: dict[str, Any] = {
            "post_id": index if not draw(st.booleans()) else draw(st.integers(0, 3)),
            "title": draw(titles),
            "subreddit": draw(st.sampled_from(["science", "gaming", "r:x"])),
            "score": draw(st.integers(0, 50_000)),
            "num_comments": draw(st.integers(0, 5_000)),
            "upvote_ratio": draw(st.one_of(st.floats(0, 1), st.integers(0, 1))),
            "post_age_hours": draw(st.floats(0, 720)),
            "author_karma": draw(st.integers(1, 500_000)),
        }
        pairs = [(f'"{name}"', json.dumps(value)) for name, value in post.items()]
        if draw(st.integers(0, 4)) == 0:  # repeat one key, with another value
            name = draw(st.sampled_from(FIELDS))
            style = draw(st.sampled_from(["plain", "spaced", "escaped"]))
            pairs.insert(
                draw(st.integers(0, len(pairs))), (key(name, style), json.dumps(post[name]))
            )
        posts.append("{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}")
    listed = "[" + ", ".join(posts) + "]"
    form = draw(st.sampled_from(["wrapped", "bare", "wrapped twice"]))
    if form == "bare":
        return listed.encode()
    if form == "wrapped twice":
        return f'{{"posts": {listed}, "posts": {listed}}}'.encode()
    return f'{{"posts": {listed}}}'.encode()


def repeats_a_key(body: bytes) -> bool:
    """The oracle: the standard library's parser, told to report every object's pairs."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated |= len({name for name, _ in items}) != len(items)
        return dict(items)

    json.loads(body, object_pairs_hook=pairs)
    return repeated


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_a_body_is_refused_for_a_repeated_key_exactly_when_it_has_one(body: bytes) -> None:
    try:
        parsed = parse_rank_body(body)
    except RequestValidationError as error:
        types = {e["type"] for e in error.errors()}
        assert ("duplicate_key" in types) == repeats_a_key(body), types
        return
    assert not repeats_a_key(body)
    value = json.loads(body)
    assert parsed["posts"] == (value["posts"] if isinstance(value, dict) else value)


@pytest.mark.parametrize("style", ["plain", "spaced", "escaped"])
def test_a_repeated_key_is_refused_however_it_is_spelt(style: str) -> None:
    post = '"post_id": 1, "title": "t", "subreddit": "s", "score": 1, "num_comments": 2, '
    post += '"upvote_ratio": 0.5, "post_age_hours": 1.0, "author_karma": 3'
    body = f'{{"posts": [{{{post}, {key("score", style)}: 900}}]}}'.encode()
    with pytest.raises(RequestValidationError) as raised:
        parse_rank_body(body)
    error = raised.value.errors()[0]
    assert (error["type"], error["input"]) == ("duplicate_key", "score")
