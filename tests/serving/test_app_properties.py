"""Property-based tests of /rank: whatever valid slate comes in, the ranking is well formed and
each post's score depends on that post alone; whatever bytes come in, the answer is never 5xx."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import KNOWN_SUBREDDITS
from serving.schemas import MAX_POST_ID, MAX_TITLE_CHARS

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON_HEADERS = {"content-type": "application/json"}
WORDS = ("breaking", "new", "why", "how", "best", "thread", "update", "discussion", "free")

titles = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=MAX_TITLE_CHARS),
)
subreddits = st.one_of(
    st.sampled_from(KNOWN_SUBREDDITS),
    st.text(st.characters(categories=("L", "N")), min_size=1, max_size=30),
)


def post_with_id(post_id: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "post_id": st.just(post_id),
            "title": titles,
            "subreddit": subreddits,
            "score": st.integers(0, 10**9),
            "num_comments": st.integers(0, 10**9),
            "upvote_ratio": st.floats(0.0, 1.0),
            "post_age_hours": st.floats(0.0, 1e6),
            "author_karma": st.integers(0, 10**12),
        }
    )


slates = st.lists(st.integers(0, MAX_POST_ID), min_size=1, max_size=20, unique=True).flatmap(
    lambda ids: st.tuples(*(post_with_id(post_id) for post_id in ids)).map(list)
)


def ranked(client: TestClient, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/rank", json={"posts": posts})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["ranked"]
    return items


@PROPERTY_SETTINGS
@given(posts=slates)
def test_ranking_is_a_sorted_permutation_of_the_input(
    api_client: TestClient, posts: list[dict[str, Any]]
) -> None:
    items = ranked(api_client, posts)
    assert sorted(item["post_id"] for item in items) == sorted(p["post_id"] for p in posts)
    assert [item["rank"] for item in items] == list(range(1, len(posts) + 1))
    scores = [item["score"] for item in items]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    position = {p["post_id"]: index for index, p in enumerate(posts)}
    for first, second in itertools.pairwise(items):
        if first["score"] == second["score"]:
            assert position[first["post_id"]] < position[second["post_id"]]


@PROPERTY_SETTINGS
@given(posts=slates, data=st.data())
def test_a_posts_score_does_not_depend_on_the_other_posts(
    api_client: TestClient, posts: list[dict[str, Any]], data: st.DataObject
) -> None:
    alone = {p["post_id"]: ranked(api_client, [p])[0]["score"] for p in posts[:3]}
    shuffled = data.draw(st.permutations(posts))
    together = {item["post_id"]: item["score"] for item in ranked(api_client, shuffled)}
    for post_id, score in alone.items():
        assert math.isclose(together[post_id], score, rel_tol=0.0, abs_tol=1e-12)


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=2_000))
def test_arbitrary_bytes_never_cause_a_server_error(api_client: TestClient, body: bytes) -> None:
    response = api_client.post("/rank", content=body, headers=JSON_HEADERS)
    assert response.status_code in (200, 400, 422)
    assert set(response.json()) >= ({"ranked"} if response.status_code == 200 else {"error"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@PROPERTY_SETTINGS
@given(value=json_values)
def test_arbitrary_json_gets_a_4xx_with_the_error_body(api_client: TestClient, value: Any) -> None:
    response = api_client.post("/rank", content=json.dumps(value), headers=JSON_HEADERS)
    assert response.status_code in (400, 422)
    assert response.json()["status"] == response.status_code


wrong_values = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


@PROPERTY_SETTINGS
@given(posts=slates, data=st.data())
def test_a_wrongly_typed_field_is_422_naming_its_item_and_field(
    api_client: TestClient, posts: list[dict[str, Any]], data: st.DataObject
) -> None:
    item = data.draw(st.integers(0, len(posts) - 1))
    field = data.draw(st.sampled_from(sorted(posts[item])))
    value = data.draw(
        wrong_values.filter(lambda v: not isinstance(v, str) or field not in ("title", "subreddit"))
    )
    posts[item] = {**posts[item], field: value}
    response = api_client.post("/rank", json={"posts": posts})
    assert response.status_code == 422, response.text
    detail = response.json()["details"][0]
    assert (detail["item"], detail["field"]) == (item, field)
