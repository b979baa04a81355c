"""The /rank body contract (``serving.schemas``): valid JSON that breaks it is a 422 naming the
item and field, through the app; and ``rank_slate`` refuses exactly the bodies that repeat
a key, as the standard library's parser sees them.

Bodies are written by hand so that they can repeat a key (plainly, with a space before the
colon, or spelt with a ``\\u`` escape), repeat ``posts``, or carry colons, quotes and key names
inside titles.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.schemas import duplicate_key
from serving.slate import rank_slate
from tests.support.api import DROP, edited_post, error_of

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
    n = draw(st.integers(1, 5))
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
        parsed = rank_slate(body, None)
    except RequestValidationError as error:
        types = {e["type"] for e in error.errors()}
        assert ("duplicate_key" in types) == repeats_a_key(body), types
        return
    assert not repeats_a_key(body)
    value = json.loads(body)
    posts = [msgspec.structs.asdict(post) for post in parsed.posts]
    assert posts == (value["posts"] if isinstance(value, dict) else value)


@pytest.mark.parametrize("style", ["plain", "spaced", "escaped"])
def test_a_repeated_key_is_refused_however_it_is_spelt(style: str) -> None:
    post = '"post_id": 1, "title": "t", "subreddit": "s", "score": 1, "num_comments": 2, '
    post += '"upvote_ratio": 0.5, "post_age_hours": 1.0, "author_karma": 3'
    body = f'{{"posts": [{{{post}, {key("score", style)}: 900}}]}}'.encode()
    with pytest.raises(RequestValidationError) as raised:
        rank_slate(body, None)
    error = raised.value.errors()[0]
    assert (error["type"], error["input"]) == ("duplicate_key", "score")


# --- 422: valid JSON that breaks the contract --------------------------------------------------


FIELD_CASES = [
    ("missing field", {"title": DROP}, "title", "missing"),
    ("string for int", {"score": "12"}, "score", "int_type"),
    ("float for int", {"num_comments": 3.5}, "num_comments", "int_type"),
    ("bool for int", {"author_karma": True}, "author_karma", "int_type"),
    ("string for float", {"upvote_ratio": "0.9"}, "upvote_ratio", "float_type"),
    ("null", {"post_age_hours": None}, "post_age_hours", "float_type"),
    ("number for string", {"subreddit": 5}, "subreddit", "string_type"),
    ("negative count", {"num_comments": -1}, "num_comments", "greater_than_equal"),
    ("negative age", {"post_age_hours": -0.5}, "post_age_hours", "greater_than_equal"),
    ("ratio above 1", {"upvote_ratio": 1.01}, "upvote_ratio", "less_than_equal"),
    ("huge score", {"score": 10**12}, "score", "less_than_equal"),
    ("beyond int64", {"post_id": 2**70}, "post_id", "less_than_equal"),
    ("empty subreddit", {"subreddit": ""}, "subreddit", "string_too_short"),
    ("long title", {"title": "x" * 301}, "title", "string_too_long"),
    ("label sent", {"engaged": 1}, "engaged", "extra_forbidden"),
    ("typo field", {"num_coments": 3}, "num_coments", "extra_forbidden"),
    ("object for string", {"title": {"a": 1}}, "title", "string_type"),
]


@pytest.mark.parametrize(("case", "changes", "field", "kind"), FIELD_CASES)
@pytest.mark.parametrize("wrapped", [True, False])
def test_bad_field_is_422_naming_item_and_field(
    api_client: TestClient,
    api_posts: list[dict[str, Any]],
    case: str,
    changes: dict[str, Any],
    field: str,
    kind: str,
    wrapped: bool,
) -> None:
    posts = [api_posts[1], edited_post(api_posts, **changes)]
    body = {"posts": posts} if wrapped else posts
    error = error_of(api_client.post("/rank", json=body), 422)
    assert error.error == "validation_error"
    detail = error.details[0]
    assert (detail.item, detail.field, detail.type) == (1, field, kind), case
    assert detail.loc == (["body", "posts", 1, field] if wrapped else ["body", 1, field])
    assert f"[1].{field}" in error.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(
    api_client: TestClient, api_posts: list[dict[str, Any]], literal: str
) -> None:
    text = json.dumps([edited_post(api_posts, post_age_hours=12345.5)]).replace("12345.5", literal)
    response = api_client.post("/rank", content=text, headers={"content-type": "application/json"})
    detail = error_of(response, 422).details[0]
    assert (detail.item, detail.field, detail.type) == (0, "post_age_hours", "finite_number")


@pytest.mark.parametrize(("count", "wrapped"), [(0, True), (0, False), (21, True), (50, False)])
def test_list_size_outside_1_to_20_is_422(
    api_client: TestClient, api_posts: list[dict[str, Any]], count: int, wrapped: bool
) -> None:
    posts = api_posts[:count]
    error = error_of(api_client.post("/rank", json={"posts": posts} if wrapped else posts), 422)
    assert error.details[0].message == f"expected 1 to 20 posts, got {count}"
    assert error.details[0].item is None


def test_duplicate_post_ids_are_422(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    posts = [api_posts[0], api_posts[1], {**api_posts[2], "post_id": api_posts[0]["post_id"]}]
    detail = error_of(api_client.post("/rank", json={"posts": posts}), 422).details[0]
    assert (detail.item, detail.field, detail.type) == (2, "post_id", "duplicate_post_id")
    assert "item 0" in detail.message


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({}, "missing"),
        ({"posts": None}, "list_type"),
        ({"posts": "x"}, "list_type"),
        ({"items": []}, "missing"),
        (None, "body_type"),
        (42, "body_type"),
        ("posts", "body_type"),
        ([1, 2], "dict_type"),
    ],
)
def test_wrong_top_level_shape_is_422(api_client: TestClient, body: Any, kind: str) -> None:
    response = api_client.post(
        "/rank", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    error = error_of(response, 422)
    assert error.details[0].type == kind


def test_many_problems_are_all_reported(api_client: TestClient) -> None:
    error = error_of(api_client.post("/rank", json=[{"post_id": 1}]), 422)
    fields = {detail.field for detail in error.details}
    assert fields == {
        "title", "subreddit", "score", "num_comments", "upvote_ratio", "post_age_hours",
        "author_karma",
    }  # fmt: skip
    assert error.message.startswith("7 problems in the request body")


def test_a_body_nested_past_the_parsers_stack_is_not_a_duplicate_key() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert duplicate_key(deep) is None
    assert duplicate_key(b'{"a": [{"b": 1, "b": 2}]}') == "b"
