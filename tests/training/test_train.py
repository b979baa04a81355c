"""The training entry points (``training.train``): the deployed configuration that
``train_candidate`` fits behaves as the data-generating process says, and the full ``run``
meets the quality target and reproduces the committed results."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from typing import Any

import numpy as np
import pytest

from bundle.store import LoadedModel, load_model
from tests.support import ROOT
from tests.support.bundles import TrainedArtifacts, TrainedBundle
from training.baselines import bayes_optimal_probability
from training.data import load_dataset

COMMITTED = "reports/metrics/training.json"
REL_TOL = 1e-9


@pytest.fixture(scope="module")
def loaded(deployed_bundle: TrainedBundle) -> LoadedModel:
    return load_model(deployed_bundle.model_dir)


def _one_post(**overrides: object) -> dict[str, np.ndarray]:
    post: dict[str, object] = {
        "post_id": 1,
        "title": "new daily discussion thread",
        "subreddit": "science",
        "score": 250.0,
        "num_comments": 80.0,
        "upvote_ratio": 0.85,
        "post_age_hours": 12.0,
        "author_karma": 1000.0,
        **overrides,
    }
    return {key: np.array([value], dtype=object if isinstance(value, str) else None)
            for key, value in post.items()}  # fmt: skip


def _sweep(column: str, values: np.ndarray) -> dict[str, np.ndarray]:
    posts = _one_post()
    batch = {key: np.repeat(array, len(values)) for key, array in posts.items()}
    batch[column] = values.astype(np.float64)
    return batch


@pytest.mark.parametrize(
    ("column", "values", "direction"),
    [
        ("post_age_hours", np.linspace(0.1, 300, 60), -1),
        ("upvote_ratio", np.linspace(0.3, 1.0, 30), 1),
        ("num_comments", np.linspace(0, 400, 30), 1),
    ],
)
def test_directional(loaded: LoadedModel, column: str, values: np.ndarray, direction: int) -> None:
    """Older (or less liked, less discussed) post, all else equal, scores lower."""
    scores = loaded.model.predict_proba(_sweep(column, values))
    assert np.all(direction * np.diff(scores) > 0)


def test_scores_are_probabilities(loaded: LoadedModel, deployed_bundle: TrainedBundle) -> None:
    dataset = load_dataset(deployed_bundle.data_path)
    scores = loaded.model.predict_proba(dataset.part("test"))
    assert np.all((scores > 0) & (scores < 1))
    assert scores.mean() == pytest.approx(dataset.y[dataset.split.test].mean(), abs=0.01)


def test_deployed_model_ignores_what_carries_no_signal(trained_artifacts: TrainedArtifacts) -> None:
    """Titles and subreddits carry no signal in this data; selection must have dropped them, so
    changing either leaves the deployed score exactly as it was."""
    loaded = load_model(trained_artifacts.model_dir)
    assert not {"text", "subreddit"} & set(loaded.model.features.groups)
    base = loaded.model.predict_proba(_one_post())[0]
    for change in ({"title": "free amazing official update"}, {"subreddit": "brand_new_sub"}):
        assert loaded.model.predict_proba(_one_post(**change))[0] == base


def test_ranking_tracks_the_bayes_ceiling(
    loaded: LoadedModel, deployed_bundle: TrainedBundle
) -> None:
    posts = load_dataset(deployed_bundle.data_path).part("test")
    correlation = np.corrcoef(loaded.model.predict_proba(posts), bayes_optimal_probability(posts))[
        0, 1
    ]
    assert correlation > 0.99


def test_quality_target_is_met(trained_artifacts: TrainedArtifacts) -> None:
    summary = json.loads((trained_artifacts.metrics_dir / "training.json").read_text())
    assert summary["gap_to_bayes"]["auc_gap"]["value"] <= 0.0005
    assert summary["gap_to_bayes"]["brier_gap"]["value"] <= 0.0003


# --- reproducibility ------------------------------------------------------------------------------
# Re-running training reproduces the committed results (fixed seeds, pinned deps). The reference
# is the version of ``reports/metrics/training.json`` in ``HEAD``, not the working tree, which
# the pipeline overwrites. Floats are compared with a relative tolerance of 1e-9: another
# machine's BLAS may round the last digits differently, and nothing a reader of the report sees
# is that fine. Everything else (names, groups, counts, the decay form) must match exactly.


def committed_summary() -> dict[str, Any]:
    """``training.json`` as committed in HEAD; skips when this is not a git checkout."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed, so the committed training.json cannot be read")
    shown = subprocess.run(
        [git, "-C", str(ROOT), "show", f"HEAD:{COMMITTED}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if shown.returncode != 0:
        pytest.skip(f"no committed {COMMITTED} to compare with: {shown.stderr.strip()}")
    loaded: dict[str, Any] = json.loads(shown.stdout)
    return loaded


def point_values(summary: dict[str, Any]) -> dict[str, Any]:
    """Everything that does not depend on the number of bootstrap draws.

    ``model_version`` hashes the fitted decay rate's exact float, so only its family prefix is
    compared; the inputs of that hash (data checksum, family, groups, decay form and rate,
    seed) are compared below, the rate within the tolerance.
    """
    return {
        "model_family": summary["model_version"].split("-")[0],
        "training_data_sha256": summary["training_data_sha256"],
        "seed": summary["seed"],
        "deployed": summary["deployed"],
        "decay": summary["decay"],
        "ablation": summary["ablation"],
        "elimination": summary["elimination"],
        "test": {
            name: {metric: row[metric]["value"] for metric in ("auc", "ndcg_at_10", "brier")}
            for name, row in summary["test"].items()
        },
        "calibrator": summary["calibrator"],
    }


def differences(fresh: Any, committed: Any, path: str = "") -> list[str]:
    """Where two JSON values differ: floats beyond ``REL_TOL``, anything else at all."""
    if isinstance(fresh, dict) and isinstance(committed, dict):
        if fresh.keys() != committed.keys():
            return [f"{path or '/'}: keys {sorted(fresh)} != {sorted(committed)}"]
        return [
            d for key in fresh for d in differences(fresh[key], committed[key], f"{path}/{key}")
        ]
    if isinstance(fresh, list) and isinstance(committed, list):
        if len(fresh) != len(committed):
            return [f"{path}: {len(fresh)} items != {len(committed)}"]
        pairs = zip(fresh, committed, strict=True)
        return [d for i, (a, b) in enumerate(pairs) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(fresh, float) and isinstance(committed, float):
        both_nan = math.isnan(fresh) and math.isnan(committed)
        close = both_nan or math.isclose(fresh, committed, rel_tol=REL_TOL, abs_tol=0.0)
        return [] if close else [f"{path}: {fresh!r} != {committed!r}"]
    return (
        []
        if fresh == committed and type(fresh) is type(committed)
        else [f"{path}: {fresh!r} != {committed!r}"]
    )


def test_differences_tolerates_only_last_digit_float_noise() -> None:
    assert differences({"a": [0.1 + 0.2, "x"]}, {"a": [0.3, "x"]}) == []
    assert differences({"a": 1.0}, {"a": 1.0 + 1e-6}) == ["/a: 1.0 != 1.000001"]
    assert differences([math.nan], [math.nan]) == []
    assert differences([math.nan], [1.0]) == ["[0]: nan != 1.0"]
    assert differences({"a": 1}, {"a": 1.0}) == ["/a: 1 != 1.0"]
    assert differences({"a": [1, 2]}, {"a": [1]}) == ["/a: 2 items != 1"]


def test_training_reproduces_the_committed_metrics(trained_artifacts: TrainedArtifacts) -> None:
    committed = committed_summary()
    fresh = json.loads((trained_artifacts.metrics_dir / "training.json").read_text())
    found = differences(point_values(fresh), point_values(committed))
    assert not found, "\n".join(found[:20])
