"""What training writes beside ``training.json``: the bundle's metadata (with its version, the
self-check rows and the drift reference) and the validation and test predictions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from bundle import drift
from bundle.scoring import RankingModel
from bundle.store import bundle_metadata
from features.schema import CATEGORY_COLUMN, ID_COLUMN, take
from features.transform import Group
from features.transforms import DecaySpec
from training.data import Dataset

PREDICTIONS: Final = "predictions.csv"
SELF_CHECK_ROWS: Final = 8


def model_version(
    data_sha: str, family: str, groups: tuple[Group, ...], decay: DecaySpec, seed: int
) -> str:
    """The family and a fingerprint of everything that determines the fitted model."""
    fingerprint = json.dumps([data_sha, family, groups, decay.form, decay.param, seed])
    return f"{family}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:10]}"


def training_metadata(
    model: RankingModel,
    dataset: Dataset,
    groups: tuple[Group, ...],
    decay: DecaySpec,
    provenance: tuple[str, int],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """A trained bundle's metadata: its version from ``provenance`` (the data's sha256 and the
    seed), test rows as its self-check, ``metrics``, and the training rows' drift reference."""
    data_sha, seed = provenance
    train_posts = dataset.part("train")
    return bundle_metadata(
        model,
        model_version(data_sha, model.family, groups, decay, seed),
        take(dataset.part("validation"), np.arange(SELF_CHECK_ROWS)),
        feature_groups=list(groups),
        decay={"form": decay.form, "param": decay.param},
        training_data_sha256=data_sha,
        metrics=metrics,
        drift=drift.reference(train_posts, model.predict_proba(train_posts)),
    )


def write_predictions(
    dataset: Dataset,
    validation: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    path: Path,
) -> None:
    """Every candidate's probabilities on the validation and test rows, written atomically."""
    frames = []
    for part, probabilities in (("validation", validation), ("test", test)):
        rows = getattr(dataset.split, part)
        frame = pd.DataFrame(
            {
                "split": part,
                ID_COLUMN: dataset.posts[ID_COLUMN][rows],
                CATEGORY_COLUMN: dataset.posts[CATEGORY_COLUMN][rows],
                "engaged": dataset.y[rows],
                **probabilities,
            }
        )
        frames.append(frame)
    staging = path.with_name(f".{path.name}.tmp")
    pd.concat(frames).to_csv(staging, index=False, float_format="%.10g")
    staging.replace(path)
