"""No training-serving skew: 1,000 posts scored through HTTP in slates of 20 get the same
scores as the offline batch CLI ``python -m batch`` (within 1e-9), for a bundle of
each family training can deploy (logistic and LightGBM, every feature group). The CLI's
``main`` runs in this process; tests/batch/test_cli.py runs the command as a process."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import batch.__main__ as batch_cli
from serving.app import create_app
from serving.settings import Settings
from tests.support.api import rank

# its fixtures: api_model_dir, lightgbm_model_dir, api_posts
ROWS = 1_000
SLATE = 20
TOLERANCE = 1e-9


@pytest.mark.parametrize(
    ("bundle", "family"), [("api_model_dir", "logistic"), ("lightgbm_model_dir", "lightgbm")]
)
def test_http_scores_equal_batch_cli_scores(
    bundle: str,
    family: str,
    api_posts: list[dict[str, Any]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    model_dir: Path = request.getfixturevalue(bundle)
    posts = api_posts[:ROWS]
    source, scored = tmp_path / "posts.csv", tmp_path / "scored.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(posts[0]))
        writer.writeheader()
        writer.writerows(posts)
    status = batch_cli.main(
        ["--input", str(source), "--output", str(scored), "--model-dir", str(model_dir)]
    )
    assert status == 0
    with scored.open(newline="") as handle:
        offline = {
            int(row["post_id"]): float(row["engagement_score"]) for row in csv.DictReader(handle)
        }

    served: dict[int, float] = {}
    with TestClient(create_app(Settings(model_dir=model_dir))) as client:
        assert client.get("/model").json()["family"] == family
        for start in range(0, ROWS, SLATE):
            for item in rank(client, {"posts": posts[start : start + SLATE]})["ranked"]:
                served[item["post_id"]] = item["score"]

    assert served.keys() == offline.keys()
    worst = max(abs(served[post_id] - offline[post_id]) for post_id in offline)
    assert worst <= TOLERANCE, f"largest HTTP vs CLI difference {worst:.3g}"
