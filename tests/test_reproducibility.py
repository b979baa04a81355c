"""Re-running training reproduces the committed results exactly (fixed seeds, pinned deps)."""

from __future__ import annotations

import json
from typing import Any

from .conftest import ROOT, TrainedArtifacts

COMMITTED = ROOT / "reports" / "metrics" / "training.json"


def _point_values(summary: dict[str, Any]) -> dict[str, Any]:
    """Everything that does not depend on the number of bootstrap draws."""
    return {
        "model_version": summary["model_version"],
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


def test_training_reproduces_the_committed_metrics(trained_artifacts: TrainedArtifacts) -> None:
    fresh = json.loads((trained_artifacts.metrics_dir / "training.json").read_text())
    committed = json.loads(COMMITTED.read_text())
    assert _point_values(fresh) == _point_values(committed)
