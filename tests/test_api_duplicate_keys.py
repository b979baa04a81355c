"""The fast path of ``parse_posts`` (dict validation, duplicate keys ruled out by counting colons)
against the reference: ``PostIn`` models, then jiter's duplicate-key check on every body.

Bodies are written by hand so that they can repeat a key (plainly, with a space before the
colon, or spelt with a ``\\u`` escape), repeat ``posts``, or carry colons, quotes and key names
inside titles; both paths must accept the same bodies with the same posts, and refuse the others
with the same 422.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.errors import ApiError
from serving.parsing import (
    _AS_FIELDS,
    FAST_PATH_MAX_BYTES,
    _check_no_duplicate_keys,
    _check_unique_ids,
    _validate_models,
    parse_posts,
)

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


def outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(body)
    except RequestValidationError as error:
        return "422", [(e["type"], e["loc"]) for e in error.errors()]
    except ApiError as error:
        return str(error.status), error.error


def reference(body: bytes) -> list[dict[str, Any]]:
    """The pre-fast-path behaviour: models first, then duplicate keys, then duplicate ids."""
    stripped = body.lstrip()
    posts = _AS_FIELDS.dump_python(_validate_models(body, stripped))
    _check_no_duplicate_keys(body)
    _check_unique_ids(posts, bare=stripped[:1] == b"[")
    return posts


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_fast_path_agrees_with_the_reference(body: bytes) -> None:
    assert outcome(parse_posts, body) == outcome(reference, body)


@pytest.mark.parametrize("style", ["plain", "spaced", "escaped"])
def test_a_repeated_key_is_refused_however_it_is_spelt(style: str) -> None:
    post = '"post_id": 1, "title": "t", "subreddit": "s", "score": 1, "num_comments": 2, '
    post += '"upvote_ratio": 0.5, "post_age_hours": 1.0, "author_karma": 3'
    body = f'{{"posts": [{{{post}, {key("score", style)}: 900}}]}}'.encode()
    with pytest.raises(RequestValidationError) as raised:
        parse_posts(body)
    assert raised.value.errors()[0]["type"] == "duplicate_key"


def test_a_valid_body_too_large_for_the_fast_path_gives_the_same_posts() -> None:
    post = '{"post_id": 1, "title": "t", "subreddit": "s", "score": 1, "num_comments": 2, '
    post += '"upvote_ratio": 1, "post_age_hours": 1.5, "author_karma": 3}'
    body = f'{{"posts": [{post}]}}'.encode()
    padded = body[:-1] + b" " * FAST_PATH_MAX_BYTES + b"}"
    assert parse_posts(padded) == parse_posts(body) == reference(body)
    assert parse_posts(padded)[0]["upvote_ratio"] == 1.0
