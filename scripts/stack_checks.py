"""Checks the topology through its front door (standard library only).

Step 3 of ``make stack-smoke`` (``scripts/stack_smoke.sh``), once HAProxy has both replicas up:
``python -m scripts.stack_checks --url http://127.0.0.1:PORT --csv data/posts.csv``, the CSV the
feature server's image generated with the same generator. Through the proxy:

1. /ready answers 200;
2. /rank/ids on the CSV's first 20 ids scores each post within 1e-12 of /rank given its fields
   (a 503 is retried, as a client told ``Retry-After`` would);
3. an id the store does not hold is 422 ``unknown_post_id``;
4. a body declared over the limit is the proxy's 413, with the service's error body, answered
   from the request head alone.

Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Final

from benchmarks.payloads import load_posts
from scripts.check_report import report

RETRIES: Final = 10


def call(url: str, body: Any = None) -> tuple[int, Any]:
    """Status and decoded JSON of a GET (no body) or a JSON POST to ``url``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text[:200]


def declared_too_large(base: str, length: int = 1 << 20) -> tuple[int, Any]:
    """Status and JSON body of a POST /rank whose head declares ``length`` bytes, no body sent:
    the proxy must answer from the head."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.putrequest("POST", "/rank")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text[:200]


def posts_of(csv_path: Path, count: int = 20) -> list[dict[str, Any]]:
    """The CSV's first ``count`` posts, typed as /rank takes them."""
    return load_posts(csv_path)[:count]


def same_scores(base: str, posts: list[dict[str, Any]]) -> tuple[bool, str]:
    """/rank/ids scores the posts' ids as /rank scores the posts; what came back."""
    ids = [post["post_id"] for post in posts]
    attempt = 1
    by_ids_status, by_ids = call(f"{base}/rank/ids", {"post_ids": ids})
    while by_ids_status == 503 and attempt < RETRIES:
        time.sleep(1)
        attempt += 1
        by_ids_status, by_ids = call(f"{base}/rank/ids", {"post_ids": ids})
    by_posts_status, by_posts = call(f"{base}/rank", {"posts": posts})
    answer = f"/rank/ids {by_ids_status} (attempt {attempt}), /rank {by_posts_status}"
    if (by_ids_status, by_posts_status) != (200, 200):
        return False, f"{answer}: {str(by_ids)[:300]}"
    scores = {item["post_id"]: item["score"] for item in by_posts["ranked"]}
    same = len(by_ids["ranked"]) == len(ids) and all(
        abs(item["score"] - scores[item["post_id"]]) <= 1e-12 for item in by_ids["ranked"]
    )
    return same, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack_checks", description=__doc__)
    parser.add_argument("--url", required=True, help="the front door, http://127.0.0.1:PORT")
    parser.add_argument("--csv", type=Path, required=True, help="the posts the store holds")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    posts = posts_of(args.csv)
    ready, _ = call(f"{base}/ready")
    same, answer = same_scores(base, posts)
    unknown_id = max(post["post_id"] for post in posts) + 10**9
    unknown, body = call(f"{base}/rank/ids", {"post_ids": [posts[0]["post_id"], unknown_id]})
    too_large, error = declared_too_large(base)
    checks = [
        (ready == 200, f"GET /ready: {ready}"),
        (same, f"/rank/ids scores {len(posts)} ids within 1e-12 of /rank: {answer}"),
        (
            unknown == 422 and isinstance(body, dict) and body.get("error") == "unknown_post_id",
            f"an id the store lacks: {unknown} (expected 422 unknown_post_id)",
        ),
        (
            too_large == 413
            and isinstance(error, dict)
            and error.get("error") == "payload_too_large",
            f"a 1 MiB body declared: {too_large} (expected the proxy's 413 payload_too_large)",
        ),
    ]
    return report(checks)


if __name__ == "__main__":
    sys.exit(main())
