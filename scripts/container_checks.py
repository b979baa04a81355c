"""Calls a running feedrank container with valid and invalid payloads (standard library only).

Step 1 of ``make docker-smoke`` (``scripts/docker_smoke.sh``), once the container answers
/health: ``python scripts/container_checks.py --url http://127.0.0.1:PORT``. The container runs
alone, with no feature server: /rank serves, and /rank/ids answers 503 ``store_unavailable``
with ``Retry-After`` (the stack's smoke test checks /rank/ids against a feature server). Runs
every check, prints what was expected and what came back, and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from email.message import Message
from typing import Any, NamedTuple

from features.schema import example_post
from scripts.check_report import report


class Reply(NamedTuple):
    status: int
    body: Any
    headers: Message


class Check(NamedTuple):
    """One check's name, outcome, and what came back."""

    name: str
    ok: bool
    detail: str


class Client:
    """Status and decoded body of calls to one base URL."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def post(
        self,
        body: Any,
        raw: bytes | None = None,
        content_type: str = "application/json",
        path: str = "/rank",
    ) -> Reply:
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers={"Content-Type": content_type}, method="POST"
        )
        return _open(request)

    def get(self, path: str) -> Reply:
        return _open(urllib.request.Request(f"{self.base}{path}"))


def _open(request: urllib.request.Request) -> Reply:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        status, headers, text = error.code, error.headers, error.read().decode()
    try:
        return Reply(status, json.loads(text), headers)
    except ValueError:
        return Reply(status, text, headers)


def post_fields(post_id: int, subreddit: str = "science", **changes: Any) -> dict[str, Any]:
    """A valid post (``features.schema``'s example) with this id, subreddit, score and age."""
    varied = {"score": 120 * post_id, "post_age_hours": 3.0 * post_id}
    return example_post(post_id=post_id, subreddit=subreddit, **(varied | changes))


def valid_slate() -> list[dict[str, Any]]:
    """Three valid posts, the third from a subreddit the model never saw."""
    return [post_fields(1), post_fields(2, "gaming"), post_fields(3, "not_a_real_sub")]


def status_checks(client: Client) -> list[Check]:
    """Each request answers the status the API contract gives it (SERVING.md)."""
    post, get = client.post, client.get
    valid = valid_slate()
    missing = [{k: v for k, v in post_fields(1).items() if k != "score"}]
    duplicate_key = json.dumps([post_fields(1)])[:-2].encode() + b', "score": 1}]'
    nan = json.dumps([post_fields(1, upvote_ratio=float("nan"))]).encode()  # writes NaN
    expected: list[tuple[str, Reply, int]] = [
        ("GET /ready", get("/ready"), 200),
        ("GET /model", get("/model"), 200),
        ("valid wrapped", post({"posts": valid}), 200),
        ("valid bare array", post(valid), 200),
        ("empty list", post({"posts": []}), 422),
        ("21 posts", post([post_fields(i) for i in range(1, 22)]), 422),
        ("missing field", post(missing), 422),
        ("string for a number", post([post_fields(1, score="12")]), 422),
        ("12.0 for an integer", post([post_fields(1, score=12.0)]), 422),
        ("upvote_ratio > 1", post([post_fields(1, upvote_ratio=1.5)]), 422),
        ("duplicate post_id", post([post_fields(1), post_fields(1)]), 422),
        ("not JSON", post(None, raw=b"{not json"), 400),
        ("not UTF-8", post(None, raw=b'[{"title": "\xff"}]'), 400),
        ("too large", post(None, raw=b" " * 1_000_000), 413),
        # hostile input (tests/system/test_hostile.py has the full set)
        ("duplicate key", post(None, raw=duplicate_key), 422),
        ("100,000-deep nesting", post(None, raw=b"[" * 100_000 + b"]" * 100_000), 400),
        ("NaN literal", post(None, raw=nan), 422),
        ("10,000-element array", post([1] * 10_000), 422),
        ("wrong Content-Type", post(None, raw=b"[]", content_type="text/plain"), 415),
    ]
    return [_status_check(name, reply, status) for name, reply, status in expected]


def _status_check(name: str, reply: Reply, expected: int) -> Check:
    detail = f"{reply.status} (expected {expected})"
    if reply.status != expected:
        detail += f"; body {reply.body!r}"[:500]
    return Check(name, reply.status == expected, detail)


def ranking_check(client: Client) -> Check:
    """Best first, and the subreddit the model never saw is flagged."""
    reply = client.post({"posts": valid_slate()})
    ranked = reply.body["ranked"] if reply.status == 200 else []
    scores = [item["score"] for item in ranked]
    flagged = [item["post_id"] for item in ranked if item["unknown_subreddit"]]
    ok = len(ranked) == 3 and scores == sorted(scores, reverse=True) and flagged == [3]
    return Check("ranking sorted, unknown subreddit flagged", ok, str(scores))


def metrics_check(client: Client) -> Check:
    reply = client.get("/metrics")
    ok = reply.status == 200 and "feedrank_unknown_subreddit_posts_total" in reply.body
    return Check("GET /metrics", ok, str(reply.status))


def store_unavailable_check(client: Client) -> Check:
    """With no feature server to read from, /rank/ids says so in the error body and asks for a
    retry, while /rank serves (the checks above)."""
    reply = client.post({"post_ids": [1, 2]}, path="/rank/ids")
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    retry_after = reply.headers.get("Retry-After")
    ok = reply.status == 503 and error == "store_unavailable" and retry_after is not None
    return Check(
        "/rank/ids without a feature server",
        ok,
        f"{reply.status} {error}, Retry-After {retry_after} (expected 503 store_unavailable)",
    )


def version_check(client: Client, expected: str) -> Check:
    served = client.get("/model").body.get("model_version")
    return Check("model version", served == expected, f"served {served}, expected {expected}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--model-version", help="the model_version GET /model must report")
    args = parser.parse_args(argv)
    client = Client(args.url)
    checks = [
        *status_checks(client),
        ranking_check(client),
        metrics_check(client),
        store_unavailable_check(client),
    ]
    if args.model_version is not None:
        checks.append(version_check(client, args.model_version))
    return report((check.ok, f"{check.name}: {check.detail}") for check in checks)


if __name__ == "__main__":
    sys.exit(main())
