"""Loading every metrics file the report reads, and the template's context built from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from features import transform, transforms
from features.transform import ALL_GROUPS
from training import models
from training.data import CV_FOLDS
from training.metrics import NDCG_K, SLATE_SIZE
from training.report import derived
from training.report.filters import first_line
from training.results import SIGNIFICANT_DIGITS, TRAINING_METRICS, MetricsError, read_json

NOTEBOOKS: Final = {
    "eda": "01_eda",
    "decay": "02_decay_fitting",
    "model_comparison": "03_model_comparison",
    "importance": "04_ablation_importance",
    "calibration": "05_calibration",
    "online_experiments": "06_online_experiments",
}
NOTEBOOK_METRICS: Final = tuple(NOTEBOOKS)
# features whose intuition is their transform's docstring, quoted in the feature table
DOCUMENTED: Final[Mapping[str, Callable[..., Any]]] = {
    "hn_decay": transforms.hn_decay,
    "title_words": transforms.title_length,
    "title_hash_00": transform.hashed_ngrams,
    "score_x_upvote_ratio": transforms.score_x_upvote_ratio,
    "comment_velocity": transforms.comment_velocity,
    "decayed_log_score": transforms.decayed_score,
    "comments_per_point": transforms.comments_per_point,
}


@dataclass(frozen=True)
class Inputs:
    """Every metrics file the report reads, plus where figures live relative to the report."""

    training: dict[str, Any]
    notebooks: dict[str, dict[str, Any]]
    figures_dir: Path
    output: Path

    def figure(self, source: str, key: str, caption: str) -> str:
        """A markdown image link relative to the report; the PNG must exist."""
        path = self.figures_dir / str(self.notebooks[source]["figures"][key])
        if not path.is_file():
            raise MetricsError(f"figure {path} is missing (re-run its notebook)")
        relative = Path(os.path.relpath(path.resolve(), self.output.parent.resolve()))
        return f"![{caption}]({relative.as_posix()})"

    def label(self, name: str) -> str:
        """Table label (the deployed row is marked)."""
        return derived.model_label(name, self.training)

    def name(self, name: str) -> str:
        """Label for prose."""
        return derived.model_label(name, self.training, mark_deployed=False)


def load_inputs(metrics_dir: Path, figures_dir: Path, output: Path) -> Inputs:
    """Reads ``training.json`` and every notebook's JSON; names all missing files at once."""
    missing = [
        f"{name}.json (notebooks/{NOTEBOOKS[name]}.ipynb)"
        for name in NOTEBOOK_METRICS
        if not (metrics_dir / f"{name}.json").is_file()
    ]
    if not (metrics_dir / TRAINING_METRICS).is_file():
        missing.insert(0, f"{TRAINING_METRICS} (python -m training.train)")
    if missing:
        raise MetricsError(f"missing in {metrics_dir}: {', '.join(missing)}")
    return Inputs(
        training=read_json(metrics_dir / TRAINING_METRICS),
        notebooks={name: read_json(metrics_dir / f"{name}.json") for name in NOTEBOOK_METRICS},
        figures_dir=figures_dir,
        output=output,
    )


def context(inputs: Inputs) -> dict[str, Any]:
    """What the template sees: the metrics, the derived numbers and the code's constants."""
    t = inputs.training
    deployed = t["deployed"]
    return {
        "t": t,
        **inputs.notebooks,
        "deployed": deployed["name"],
        "family": deployed["family"],
        "deployed_groups": list(deployed["groups"]),
        "names": derived.model_names(t),
        "trained": derived.trained_names(t),
        "bayes": derived.BAYES,
        "heuristics": [h for h in derived.HEURISTICS if h in t["test"]],
        "gaps": derived.gap_checks(t),
        "rounds": derived.elimination_rounds(t),
        "paired": derived.paired_summary(t, inputs.notebooks["model_comparison"]),
        "reads": derived.split_reads(t, inputs.notebooks),
        "ablation": {family: derived.ablation_rows(t, family) for family in t["ablation"]},
        "ablation_delta": lambda family, group: derived.ablation_delta(t, family, group),
        "cv_score": lambda family, groups: derived.cv_score(t, family, groups),
        "group_row": derived.group_row,
        "features": derived.feature_rows(),
        "doc": {name: first_line(function) for name, function in DOCUMENTED.items()},
        "all_groups": list(ALL_GROUPS),
        "label": inputs.label,
        "name": inputs.name,
        "figure": inputs.figure,
        "NDCG_K": NDCG_K,
        "SLATE_SIZE": SLATE_SIZE,
        "CV_FOLDS": CV_FOLDS,
        "LOGISTIC_C": models.LOGISTIC_C,
        "LIGHTGBM_PARAMS": models.LIGHTGBM_PARAMS,
        "LIGHTGBM_PATIENCE": models.LIGHTGBM_PATIENCE,
        "LIGHTGBM_MAX_ROUNDS": models.LIGHTGBM_MAX_ROUNDS,
        "EARLY_STOPPING_FRACTION": models.EARLY_STOPPING_FRACTION,
        "SIGNIFICANT_DIGITS": SIGNIFICANT_DIGITS,
    }
