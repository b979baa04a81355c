"""POST /rank and the operational routes through FastAPI's TestClient: every status code.

Property-based tests at the end: whatever valid slate comes in, the ranking is well formed and
each post's score depends on that post alone; whatever bytes come in, the answer is never 5xx.
The body contract (which JSON /rank accepts) is tests/serving/test_schemas.py.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundle.store import load_model
from features.schema import KNOWN_SUBREDDITS, SCHEMA_BY_NAME
from serving.app import create_app
from serving.schemas import RankResponse
from serving.settings import Settings
from tests.support.api import edited_post, error_of, metric, rank
from tests.support.bundles import MODEL_VERSION
from tests.support.posts import table_of

# --- 200 -------------------------------------------------------------------------------------


def test_rank_sorts_by_score_and_echoes_posts(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    posts = api_posts[:20]
    response = api_client.post("/rank", json={"posts": posts})
    assert response.status_code == 200
    result = RankResponse.model_validate(response.json())
    assert result.model_version == MODEL_VERSION
    scores = [item.score for item in result.ranked]
    assert scores == sorted(scores, reverse=True)
    assert [item.rank for item in result.ranked] == list(range(1, 21))
    by_id = {post["post_id"]: post for post in posts}
    for item in result.ranked:
        assert item.post == by_id[item.post_id]
        assert 0.0 <= item.score <= 1.0
    stages = [part.split(";")[0] for part in response.headers["server-timing"].split(", ")]
    assert stages == ["validate", "featurise", "predict", "serialise"]


def test_scores_equal_the_saved_model(
    api_client: TestClient, api_model_dir: Path, api_posts: list[dict[str, Any]]
) -> None:
    posts = api_posts[20:40]
    result = rank(api_client, {"posts": posts})
    model = load_model(api_model_dir).model
    expected = model.predict_proba(table_of(posts))
    got = {item["post_id"]: item["score"] for item in result["ranked"]}
    assert [got[p["post_id"]] for p in posts] == expected.tolist()


def test_bare_array_equals_wrapped_form(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    posts = api_posts[40:45]
    assert rank(api_client, posts)["ranked"] == rank(api_client, {"posts": posts})["ranked"]


def test_ties_keep_input_order(api_client: TestClient, api_posts: list[dict[str, Any]]) -> None:
    twins = [{**api_posts[0], "post_id": post_id} for post_id in (9, 3, 7)]
    ranked = rank(api_client, twins)["ranked"]
    assert [item["post_id"] for item in ranked] == [9, 3, 7]
    assert len({item["score"] for item in ranked}) == 1


def test_unknown_subreddit_is_ranked_flagged_and_counted(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    before = metric(api_client, "feedrank_unknown_subreddit_posts_total")
    posts = [{**api_posts[0], "subreddit": "r_never_seen"}, api_posts[1]]
    result = rank(api_client, posts)
    flags = {item["post_id"]: item["unknown_subreddit"] for item in result["ranked"]}
    assert flags == {posts[0]["post_id"]: True, posts[1]["post_id"]: False}
    assert "r_never_seen" in result["notes"][0]
    assert metric(api_client, "feedrank_unknown_subreddit_posts_total") == before + 1


def test_integers_are_accepted_for_float_fields(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    post = {**api_posts[0], "upvote_ratio": 1, "post_age_hours": 0}
    assert rank(api_client, [post])["ranked"][0]["post"]["upvote_ratio"] == 1.0


def test_health_ready_model_metrics(api_client: TestClient) -> None:
    assert api_client.get("/health").json() == {"status": "ok"}
    ready = api_client.get("/ready").json()
    assert (ready["status"], ready["model_version"]) == ("ready", MODEL_VERSION)
    info = api_client.get("/model").json()
    assert info["model_version"] == MODEL_VERSION
    assert "title_tfidf_logit" in info["feature_names"]
    assert "self_check" not in info["metadata"]
    metrics = api_client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert f'feedrank_model_info{{family="logistic",version="{MODEL_VERSION}"}} 1' in text
    assert 'feedrank_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'feedrank_http_request_duration_seconds_bucket{le="+Inf",route="/health"}' in text
    assert 'feedrank_rank_stage_seconds_sum{stage="featurise"}' in text


# --- 400 / 413 / 415: bodies that are not JSON at all ----------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b"   \n", "empty_body"),
        (b'{"posts": [', "invalid_json"),
        (b"posts=1", "invalid_json"),
        (b"{'posts': []}", "invalid_json"),
        (b'[{"title": "caf\xe9"}]', "invalid_encoding"),
        (b"\xff\xfe[\x00]\x00", "invalid_encoding"),
    ],
)
def test_non_json_bodies_are_400(api_client: TestClient, raw: bytes, code: str) -> None:
    response = api_client.post("/rank", content=raw, headers={"content-type": "application/json"})
    assert error_of(response, 400).error == code


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_wrong_content_type_is_415(
    api_client: TestClient, api_posts: list[dict[str, Any]], content_type: str
) -> None:
    body = json.dumps([api_posts[0]])
    response = api_client.post("/rank", content=body, headers={"content-type": content_type})
    assert error_of(response, 415).error == "unsupported_media_type"


def test_missing_content_type_is_read_as_json(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    response = api_client.post("/rank", content=json.dumps([api_posts[0]]).encode())
    assert response.status_code == 200


def test_json_suffix_media_type_is_accepted(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    body = json.dumps([api_posts[0]])
    headers = {"content-type": "application/vnd.feedrank+json; charset=UTF-8"}
    assert api_client.post("/rank", content=body, headers=headers).status_code == 200


def test_declared_oversized_body_is_413(api_client: TestClient) -> None:
    body = b"[" + b" " * (64 * 1024) + b"]"
    response = api_client.post("/rank", content=body, headers={"content-type": "application/json"})
    assert error_of(response, 413).error == "payload_too_large"


def test_streamed_oversized_body_is_413(api_client: TestClient) -> None:
    """Chunked upload with no Content-Length: the limit holds on the bytes actually read."""
    chunks = iter([b"["] + [b" " * 8192] * 10 + [b"]"])
    response = api_client.post(
        "/rank", content=chunks, headers={"content-type": "application/json"}
    )
    assert error_of(response, 413).error == "payload_too_large"


# --- 404 / 405 / 503 --------------------------------------------------------------------------


def test_before_startup_everything_but_health_is_503(
    api_model_dir: Path, api_posts: list[dict[str, Any]]
) -> None:
    client = TestClient(create_app(Settings(model_dir=api_model_dir)))  # lifespan not run
    assert client.get("/health").status_code == 200
    for response in (client.get("/ready"), client.get("/model"), client.post("/rank", json=[])):
        assert error_of(response, 503).error == "not_ready"


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_documents_both_body_forms_and_the_error_body(api_client: TestClient) -> None:
    schema = api_client.get("/openapi.json").json()
    rank_op = schema["paths"]["/rank"]["post"]
    body_schema = rank_op["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["oneOf"][0] == {"$ref": "#/components/schemas/RankRequest"}
    assert body_schema["oneOf"][1]["items"] == {"$ref": "#/components/schemas/PostIn"}
    for status in ("400", "413", "415", "422", "503"):
        content = rank_op["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    components = schema["components"]["schemas"]
    assert {"RankRequest", "PostIn", "ErrorBody", "ErrorDetail", "RankResponse"} <= set(components)
    assert components["PostIn"]["additionalProperties"] is False
    header = rank_op["parameters"][0]
    assert (header["name"], header["in"], header["schema"]["maxLength"]) == (
        "X-User-Id",
        "header",
        256,
    )
    assert "HTTPValidationError" not in components


def test_served_scores_are_finite_probabilities(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    extremes = [
        edited_post(
            api_posts, post_id=1, score=0, num_comments=0, upvote_ratio=0.0, post_age_hours=0
        ),
        edited_post(
            api_posts,
            post_id=2,
            score=10**9,
            num_comments=10**9,
            upvote_ratio=1.0,
            post_age_hours=1e6,
            author_karma=10**12,
            title="",
        ),
    ]
    scores = np.array([item["score"] for item in rank(api_client, extremes)["ranked"]])
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_a_user_id_header_over_256_characters_is_422(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    response = api_client.post("/rank", json=api_posts[:2], headers={"X-User-Id": "u" * 257})
    detail = error_of(response, 422).details[0]
    assert (detail.loc, detail.type) == (["header", "X-User-Id"], "string_too_long")


# --- properties ------------------------------------------------------------------------------


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON_HEADERS = {"content-type": "application/json"}
WORDS = ("breaking", "new", "why", "how", "best", "thread", "update", "discussion", "free")

titles = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=int(SCHEMA_BY_NAME["title"].high)),
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


slates = st.lists(
    st.integers(0, int(SCHEMA_BY_NAME["post_id"].high)), min_size=1, max_size=20, unique=True
).flatmap(lambda ids: st.tuples(*(post_with_id(post_id) for post_id in ids)).map(list))


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
