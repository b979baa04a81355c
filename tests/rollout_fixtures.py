"""Fixtures for the rollout tests: a champion and a challenger with drift references.

Both are fitted by the real feature and model code on 10,000 canonical rows (the champion a
logistic regression, the challenger a LightGBM model on fewer groups, so their scores differ)
and saved with ``save_model`` and a drift reference, as the training CLI saves them. A test
module uses them with ``pytest_plugins = ["tests.rollout_fixtures"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundle import drift
from bundle.scoring import Family
from bundle.store import bundle_metadata, save_model
from features.io import read_posts_csv
from features.schema import take
from features.transform import Group
from serving.payloads import Post, load_posts

from .fitted import fit_model
from .rollout_helpers import CHALLENGER, CHAMPION, TRAIN_ROWS, RolloutModels


def _save(
    csv: Path, family: Family, groups: tuple[Group, ...], version: str, directory: Path
) -> None:
    model, posts = fit_model(take(read_posts_csv(csv), np.arange(TRAIN_ROWS)), family, groups)
    metadata = bundle_metadata(
        model,
        version,
        take(posts, np.arange(5)),
        drift=drift.reference(posts, model.predict_proba(posts)),
    )
    save_model(model, metadata, directory)


@pytest.fixture(scope="session")
def rollout_models(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> RolloutModels:
    out = tmp_path_factory.mktemp("rollout-models")
    champion, challenger = out / "champion", out / "challenger"
    _save(canonical_csv, "logistic", ("raw", "decay", "subreddit"), CHAMPION, champion)
    _save(canonical_csv, "lightgbm", ("raw", "interactions"), CHALLENGER, challenger)
    return RolloutModels(champion, challenger)


@pytest.fixture(scope="session")
def training_posts(canonical_csv: Path) -> list[Post]:
    """The rows both models were fitted on (their drift reference), as request posts."""
    return load_posts(canonical_csv)[:TRAIN_ROWS]
