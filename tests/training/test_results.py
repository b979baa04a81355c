"""The one metrics writer (``training.results``): rounding, refusal of NaN, atomic files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.results import MetricsError, read_json, significant, write_metrics


def test_floats_are_rounded_to_ten_significant_digits() -> None:
    assert significant(0.1234567890123) == 0.123456789
    assert significant(123456.78901234) == 123456.789
    assert significant(1.0e-7 / 3) == 3.333333333e-08
    # the last-bit noise a different BLAS leaves in a float disappears
    assert significant(0.6553443620991241) == significant(0.6553443620991238)


def test_nested_numpy_values_become_plain_json() -> None:
    payload = {"a": np.float64(0.5), "b": np.arange(3), "c": [np.int64(4), (True, None)]}
    assert significant(payload) == {"a": 0.5, "b": [0, 1, 2], "c": [4, [True, None]]}


def test_write_metrics_refuses_non_finite_numbers(tmp_path: Path) -> None:
    for bad in (float("nan"), float("inf"), np.float64("nan")):
        with pytest.raises(MetricsError, match="NaN"):
            write_metrics(tmp_path, "bad", {"x": [1.0, {"y": bad}]})
    assert not (tmp_path / "bad.json").exists()
    path = write_metrics(tmp_path, "good", {"x": 1.5, "y": 2.0 / 3.0})
    assert json.loads(path.read_text()) == {"x": 1.5, "y": 0.6666666667}
    assert read_json(path)["x"] == 1.5
    assert not list(tmp_path.glob(".*.tmp"))


def test_read_json_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match="missing"):
        read_json(tmp_path / "absent.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(MetricsError, match="JSON object"):
        read_json(tmp_path / "list.json")
