"""No training-serving skew: 1,000 posts scored through HTTP in slates of 20 get the same
scores as the offline batch CLI ``python -m training.predict`` (within 1e-9)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .api_helpers import rank

pytest_plugins = ["tests.serving_fixtures"]  # its fixtures: api_client, api_model_dir, api_posts

ROOT = Path(__file__).resolve().parent.parent
ROWS = 1_000
SLATE = 20
TOLERANCE = 1e-9


def test_http_scores_equal_batch_cli_scores(
    api_client: TestClient,
    api_model_dir: Path,
    api_posts: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    posts = api_posts[:ROWS]
    source, scored = tmp_path / "posts.csv", tmp_path / "scored.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(posts[0]))
        writer.writeheader()
        writer.writerows(posts)
    subprocess.run(
        [sys.executable, "-m", "training.predict", "--input", str(source), "--output", str(scored),
         "--model-dir", str(api_model_dir)],
        cwd=ROOT, check=True, timeout=120,
    )  # fmt: skip
    with scored.open(newline="") as handle:
        offline = {
            int(row["post_id"]): float(row["engagement_score"]) for row in csv.DictReader(handle)
        }

    served: dict[int, float] = {}
    for start in range(0, ROWS, SLATE):
        for item in rank(api_client, {"posts": posts[start : start + SLATE]})["ranked"]:
            served[item["post_id"]] = item["score"]

    assert served.keys() == offline.keys()
    worst = max(abs(served[post_id] - offline[post_id]) for post_id in offline)
    assert worst <= TOLERANCE, f"largest HTTP vs CLI difference {worst:.3g}"
