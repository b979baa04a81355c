"""Calls a running feedrank container with valid and invalid payloads (standard library only).

Step 1 of ``make docker-smoke`` (``scripts/docker_smoke.sh``), once the container answers
/health: ``python scripts/container_checks.py --url http://127.0.0.1:PORT``. Runs every check,
prints what was expected and what came back, and exits 1 if any failed. With ``--rank-ids
CSV`` it checks ``/rank/ids`` alone, against a container given the online store that the
pipeline filled from that CSV: ids rank as ``/rank`` ranks the same posts sent in full.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Final

# /rank/ids answers 503 with Retry-After: 1 when a read misses FEEDRANK_STORE_TIMEOUT, as a busy
# machine can make it do; a client retries it, and so does the check, this many times
STORE_RETRIES: Final = 5


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
    ) -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers={"Content-Type": content_type}, method="POST"
        )
        return _open(request)

    def get(self, path: str) -> tuple[int, Any]:
        return _open(urllib.request.Request(f"{self.base}{path}"))


def _open(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def post_fields(post_id: int, subreddit: str = "science", **changes: Any) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "title": "breaking update thread",
        "subreddit": subreddit,
        "score": 120 * post_id,
        "num_comments": 15,
        "upvote_ratio": 0.9,
        "post_age_hours": 3.0 * post_id,
        "author_karma": 5000,
        **changes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--model-version", help="the model_version GET /model must report")
    parser.add_argument("--rank-ids", metavar="CSV", help="check /rank/ids alone (see above)")
    args = parser.parse_args(argv)
    client = Client(args.url)
    if args.rank_ids is not None:
        return rank_ids_checks(client, args.rank_ids)
    post, get = client.post, client.get
    valid = [post_fields(1), post_fields(2, "gaming"), post_fields(3, "not_a_real_sub")]
    missing = [{k: v for k, v in post_fields(1).items() if k != "score"}]
    checks: list[tuple[str, tuple[int, Any], int]] = [
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
        (
            "duplicate key",
            post(None, raw=json.dumps([post_fields(1)])[:-2].encode() + b', "score": 1}]'),
            422,
        ),
        ("100,000-deep nesting", post(None, raw=b"[" * 100_000 + b"]" * 100_000), 400),
        (
            "NaN literal",
            post(None, raw=json.dumps([post_fields(1)]).replace("0.9", "NaN").encode()),
            422,
        ),
        ("10,000-element array", post([1] * 10_000), 422),
        ("wrong Content-Type", post(None, raw=b"[]", content_type="text/plain"), 415),
    ]
    failures = 0
    for name, (status, body), expected in checks:
        ok = status == expected
        failures += not ok
        _say(f"{'ok ' if ok else 'FAIL'} {name}: {status} (expected {expected})")
        if not ok:
            _say(f"     body: {body!r}"[:500])
    status, body = post({"posts": valid})
    ranked = body["ranked"] if status == 200 else []
    scores = [item["score"] for item in ranked]
    flagged = [item["post_id"] for item in ranked if item["unknown_subreddit"]]
    shape_ok = len(ranked) == 3 and scores == sorted(scores, reverse=True) and flagged == [3]
    failures += not shape_ok
    _say(f"{'ok ' if shape_ok else 'FAIL'} ranking sorted, unknown subreddit flagged: {scores}")
    metrics_status, metrics = get("/metrics")
    metrics_ok = metrics_status == 200 and "feedrank_unknown_subreddit_posts_total" in metrics
    failures += not metrics_ok
    _say(f"{'ok ' if metrics_ok else 'FAIL'} GET /metrics")
    passed = len(checks) + 2 - failures
    if args.model_version is not None:
        served = get("/model")[1].get("model_version")
        version_ok = served == args.model_version
        failures += not version_ok
        passed += version_ok
        _say(f"{'ok ' if version_ok else 'FAIL'} served {served}, expected {args.model_version}")
    _say(f"{failures} failed, {passed} passed")
    return 1 if failures else 0


def rank_ids_checks(client: Client, csv_path: str, count: int = 20) -> int:
    """/rank/ids on the CSV's first ``count`` ids scores each post as /rank does with its
    fields, and an id the store does not hold is 422 ``unknown_post_id``."""
    integers = ("post_id", "score", "num_comments", "author_karma")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]
    posts = [
        {
            "post_id": int(row["post_id"]),
            "title": row["title"],
            "subreddit": row["subreddit"],
            **{name: int(float(row[name])) for name in integers[1:]},
            "upvote_ratio": float(row["upvote_ratio"]),
            "post_age_hours": float(row["post_age_hours"]),
        }
        for row in rows
    ]
    ids = [int(row["post_id"]) for row in rows]
    # the store's client warms up in the background: /ready says when it answers
    for _ in range(300):
        status, ready = client.get("/ready")
        if status == 200 and ready.get("feature_store") == "ok":
            break
        time.sleep(0.1)
    by_ids_status, by_ids = client.post({"post_ids": ids}, path="/rank/ids")
    retries = 0
    while by_ids_status == 503 and retries < STORE_RETRIES:
        time.sleep(1)
        retries += 1
        by_ids_status, by_ids = client.post({"post_ids": ids}, path="/rank/ids")
    by_posts_status, by_posts = client.post({"posts": posts})
    failures = 0
    same = by_ids_status == by_posts_status == 200
    if same:
        scores = {item["post_id"]: item["score"] for item in by_posts["ranked"]}
        same = len(by_ids["ranked"]) == len(ids) and all(
            abs(item["score"] - scores[item["post_id"]]) <= 1e-12 for item in by_ids["ranked"]
        )
    failures += not same
    answer = f"{by_ids_status} on attempt {retries + 1}" if retries else str(by_ids_status)
    _say(f"{'ok ' if same else 'FAIL'} /rank/ids scores {len(ids)} ids as /rank: {answer}")
    if not same:
        _say(f"     body: {by_ids!r}"[:500])
    unknown = max(ids) + 10**9
    status, body = client.post({"post_ids": [ids[0], unknown]}, path="/rank/ids")
    refused = status == 422 and isinstance(body, dict) and body.get("error") == "unknown_post_id"
    failures += not refused
    _say(f"{'ok ' if refused else 'FAIL'} an id the store lacks: {status} (expected 422)")
    _say(f"{failures} failed, {2 - failures} passed")
    return 1 if failures else 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
