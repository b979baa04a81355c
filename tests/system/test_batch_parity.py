"""Three ways to score the same 1,200 posts agree within 1e-9 per post_id: HTTP ``/rank`` on a
real server process, the local batch CLI, and the Spark batch CLI (its own JVM, ``local[2]``)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.support import ROOT
from tests.support.server import start_server

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
ROWS = 1_200
SLATE = 20
TOLERANCE = 1e-9
CLI_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def server_url(api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_server(api_model_dir, tmp_path_factory.mktemp("parity-log")).started()
    yield server.url
    server.terminate()


def batch_cli(*args: str | Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_http_local_and_spark_scores_agree(
    server_url: str, api_model_dir: Path, api_posts: list[dict[str, Any]], tmp_path: Path
) -> None:
    posts = api_posts[:ROWS]
    source = tmp_path / "posts.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(posts[0]))
        writer.writeheader()
        writer.writerows(posts)
    local, distributed = tmp_path / "local.csv", tmp_path / "spark.parquet"
    model = ["--model-dir", api_model_dir]
    batch_cli("--input", source, "--output", local, *model)
    batch_cli("--engine", "spark", "--master", "local[2]", "--input", source,
              "--output", distributed, *model)  # fmt: skip

    served: dict[int, float] = {}
    with httpx.Client(base_url=server_url, timeout=30.0) as client:
        for start in range(0, ROWS, SLATE):
            response = client.post("/rank", json={"posts": posts[start : start + SLATE]})
            assert response.status_code == 200, response.text
            served.update((item["post_id"], item["score"]) for item in response.json()["ranked"])
    scores = {
        "local": pd.read_csv(local).set_index("post_id")["engagement_score"].to_dict(),
        "spark": pd.read_parquet(distributed)
        .astype({"post_id": int})
        .set_index("post_id")["engagement_score"]
        .to_dict(),
    }
    for name, offline in scores.items():
        assert offline.keys() == served.keys(), name
        worst = max(abs(served[post_id] - offline[post_id]) for post_id in served)
        assert worst <= TOLERANCE, f"largest HTTP vs {name} difference {worst:.3g}"
    worst = max(abs(scores["local"][i] - scores["spark"][i]) for i in served)
    assert worst <= TOLERANCE, f"largest local vs spark difference {worst:.3g}"
