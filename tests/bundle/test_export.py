"""``bundle/export.py``: what ``save_model`` writes is the fitted state as plain JSON data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundle.export import export_model
from bundle.scoring import RankingModel
from bundle.store import save_model
from tests.support.bundles import save_bundle

TRAIN_ROWS = 3_000


def test_export_is_plain_json_without_nan(canonical_csv: Path, tmp_path: Path) -> None:
    """What ``save_model`` writes: the fitted state as plain data, and it refuses to write a
    non-finite number."""
    model = save_bundle(canonical_csv, tmp_path / "raw", "logistic", ("raw",), rows=TRAIN_ROWS)
    document = export_model(model)
    assert document["features"]["tfidf"] is None and document["estimator"]["kind"] == "logistic"
    broken = RankingModel(
        "logistic", model.features, model.estimator, type(model.calibrator)(float("nan"), 0.0)
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        save_model(broken, {"model_version": "nan"}, tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
