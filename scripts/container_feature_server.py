"""Checks a running feature server container against the canonical CSV.

A step of ``make docker-smoke`` (``scripts/docker_smoke.sh``), once the container, run read-only
with a tmpfs ``/tmp`` (Feast's and gunicorn's runtime files), answers /health:
``python -m scripts.container_feature_server --url http://127.0.0.1:PORT --csv data/posts.csv``.
The image generated its data with the verbatim generator and materialized it at build time, so
its online store must hold each post exactly as the CSV the same generator writes here:

1. ``/get-online-features`` for the CSV's first ids returns every post field equal to the CSV's;
2. an id the CSV does not hold comes back ``NOT_FOUND``.

Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any, Final

from features.feature_store import POST_FEATURES
from features.schema import CATEGORY_COLUMN, ID_COLUMN, POST_FIELDS, TEXT_COLUMN
from scripts.check_report import report

IDS_READ: Final = 20


def online_features(url: str, ids: list[int]) -> dict[str, list[Any]]:
    """Feast's answer for ``ids`` as columns keyed by feature name (the join key included)."""
    body = {
        "features": [f"{POST_FEATURES.name}:{field}" for field in POST_FIELDS],
        "entities": {ID_COLUMN: ids},
    }
    request = urllib.request.Request(
        f"{url.rstrip('/')}/get-online-features",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    names = answer["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, answer["results"], strict=True)}


def csv_posts(path: Path, count: int) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]


def same_value(field: str, stored: Any, written: str) -> bool:
    """The CSV's text against the store's typed value: strings as they are, numbers exactly."""
    if field in (TEXT_COLUMN, CATEGORY_COLUMN):
        return bool(stored == written)
    return stored is not None and float(stored) == float(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the feature server's base URL")
    parser.add_argument("--csv", type=Path, required=True, help="the generator's posts.csv")
    args = parser.parse_args(argv)
    rows = csv_posts(args.csv, IDS_READ)
    ids = [int(row[ID_COLUMN]) for row in rows]
    columns = online_features(args.url, ids)
    differ = [
        (row[ID_COLUMN], field)
        for index, row in enumerate(rows)
        for field in POST_FIELDS
        if not same_value(field, columns[field][index], row[field])
    ]
    unknown = max(ids) + 10**9
    absent = online_features(args.url, [unknown])
    refused = all(absent[field] == [None] for field in POST_FIELDS)
    checks = [
        (not differ, f"{len(ids)} posts read equal the CSV's (differing: {differ or 'none'})"),
        (refused, f"id {unknown}, which the CSV lacks, has no values"),
    ]
    return report(checks)


if __name__ == "__main__":
    sys.exit(main())
