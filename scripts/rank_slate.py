"""Ranks one slate on a running service: the last step of ``run_pipeline.sh``.

    python -m scripts.rank_slate --url http://127.0.0.1:8000 [--csv data/posts.csv] [--posts 5]

Waits until ``GET /health`` answers (the service loads and self-checks its bundle before it
listens), sends the first ``--posts`` rows of the CSV without their label to ``POST /rank``, and
prints the ranking: post ids and scores, best first. The pipeline thereby ends on the same
request a client makes. Standard library only. Exits 0, or prints one line naming the problem
and exits 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from features.schema import POST_SCHEMA

DEFAULT_CSV: Final = Path("data/posts.csv")
REQUEST_TIMEOUT_S: Final = 10.0
POLL_INTERVAL_S: Final = 0.2


class SlateError(RuntimeError):
    """The service or the CSV did not give a ranking; the message says which and why."""


def read_slate(path: Path, size: int) -> list[dict[str, Any]]:
    """The first ``size`` posts of the CSV, typed as the API takes them, label left out."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for _, row in zip(range(size), csv.DictReader(handle), strict=False)]
        if not rows:
            raise SlateError(f"{path} holds no posts")
        return [{field.name: field.kind(row[field.name]) for field in POST_SCHEMA} for row in rows]
    except (OSError, KeyError, ValueError) as error:
        raise SlateError(f"cannot read {size} posts from {path}: {error!r}") from error


def wait_for_health(url: str, timeout_s: float) -> None:
    """Polls ``/health`` until it answers 200; the service is not up before it does."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=REQUEST_TIMEOUT_S) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise SlateError(f"no answer from {url}/health within {timeout_s:g} s")
        time.sleep(POLL_INTERVAL_S)


def rank(url: str, posts: list[dict[str, Any]]) -> dict[str, Any]:
    """``POST /rank`` with the posts; the parsed response, or the service's error body."""
    request = urllib.request.Request(
        f"{url}/rank",
        data=json.dumps({"posts": posts}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            ranked: dict[str, Any] = json.load(response)
            return ranked
    except urllib.error.HTTPError as error:
        raise SlateError(f"POST /rank answered {error.code}: {error.read().decode()}") from error
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise SlateError(f"POST /rank failed: {error!r}") from error


def render(response: dict[str, Any], source: Path) -> str:
    lines = [
        f"POST /rank, {len(response['ranked'])} posts from {source}, "
        f"model {response['model_version']}:"
    ]
    lines += [
        f"  {item['rank']:>2}. post_id {item['post_id']:<6} score {item['score']:.4f}"
        for item in response["ranked"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--posts", type=int, default=5, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    try:
        posts = read_slate(args.csv, args.posts)
        wait_for_health(url, args.wait)
        print(render(rank(url, posts), args.csv))  # noqa: T201
    except SlateError as error:
        print(f"rank_slate: {error}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
