"""POST /rank and the operational routes through FastAPI's TestClient: every status code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bundle.store import load_model
from features.schema import INPUT_COLUMNS
from serving.app import create_app
from serving.errors import ErrorBody
from serving.schemas import RankResponse, columns
from serving.settings import Settings
from tests.support.api import rank
from tests.support.bundles import MODEL_VERSION


def error_of(response: Any, status: int) -> ErrorBody:
    """Asserts the status and the one error shape, and returns the parsed body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return ErrorBody.model_validate(response.json())


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
    expected = model.predict_proba(columns(posts, INPUT_COLUMNS))
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
    before = _metric(api_client, "feedrank_unknown_subreddit_posts_total")
    posts = [{**api_posts[0], "subreddit": "r_never_seen"}, api_posts[1]]
    result = rank(api_client, posts)
    flags = {item["post_id"]: item["unknown_subreddit"] for item in result["ranked"]}
    assert flags == {posts[0]["post_id"]: True, posts[1]["post_id"]: False}
    assert "r_never_seen" in result["notes"][0]
    assert _metric(api_client, "feedrank_unknown_subreddit_posts_total") == before + 1


def test_integers_are_accepted_for_float_fields(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    post = {**api_posts[0], "upvote_ratio": 1, "post_age_hours": 0}
    assert rank(api_client, [post])["ranked"][0]["post"]["upvote_ratio"] == 1.0


def test_health_ready_model_metrics(api_client: TestClient) -> None:
    assert api_client.get("/health").json() == {"status": "ok"}
    assert api_client.get("/ready").json() == {"status": "ready", "model_version": MODEL_VERSION}
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


# --- 422: valid JSON that breaks the contract --------------------------------------------------


def _post(api_posts: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    post = copy.deepcopy(api_posts[0])
    for key, value in changes.items():
        if value is _DROP:
            del post[key]
        else:
            post[key] = value
    return post


_DROP = object()

FIELD_CASES = [
    ("missing field", {"title": _DROP}, "title", "missing"),
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
    posts = [api_posts[1], _post(api_posts, **changes)]
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
    text = json.dumps([_post(api_posts, post_age_hours=12345.5)]).replace("12345.5", literal)
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


def test_unknown_route_and_method_use_the_error_body(api_client: TestClient) -> None:
    assert error_of(api_client.get("/nope"), 404).error == "not_found"
    response = api_client.get("/rank")
    assert error_of(response, 405).error == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert "unmatched" in api_client.get("/metrics").text


def test_before_startup_everything_but_health_is_503(
    api_model_dir: Path, api_posts: list[dict[str, Any]]
) -> None:
    client = TestClient(create_app(Settings(model_dir=api_model_dir)))  # lifespan not run
    assert client.get("/health").status_code == 200
    for response in (client.get("/ready"), client.get("/model"), client.post("/rank", json=[])):
        assert error_of(response, 503).error == "not_ready"


def test_a_bug_is_a_500_with_the_error_body_and_no_traceback(
    api_model_dir: Path, api_posts: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(model_dir=api_model_dir))
    with TestClient(app, raise_server_exceptions=False) as client:

        def broken(posts: object, user_id: object) -> None:
            raise RuntimeError("secret internal detail")

        monkeypatch.setattr(app.state.rollout, "rank", broken)
        response = client.post("/rank", json=[api_posts[0]])
    error = error_of(response, 500)
    assert error.error == "internal_error"
    assert "secret" not in response.text


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


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_served_scores_are_finite_probabilities(
    api_client: TestClient, api_posts: list[dict[str, Any]]
) -> None:
    extremes = [
        _post(api_posts, post_id=1, score=0, num_comments=0, upvote_ratio=0.0, post_age_hours=0),
        _post(
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
