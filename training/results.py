"""Reading and writing ``reports/metrics/*.json``: one writer for training and the notebooks.

Floats are rounded to ``SIGNIFICANT_DIGITS`` significant digits before they are written. BLAS
builds differ in the last few bits of a dot product, so unrounded metrics would change on every
machine and leave ``git status`` dirty after a re-run; ten digits are far more than the report
prints and far fewer than float64 holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

SIGNIFICANT_DIGITS: Final = 10
TRAINING: Final = "training"
TRAINING_METRICS: Final = f"{TRAINING}.json"


class MetricsError(RuntimeError):
    """A metrics file is missing, malformed, non-finite or inconsistent with the others."""


def significant(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits, recursively.

    NumPy scalars and arrays become plain Python values, paths become POSIX strings; NaN and
    infinity are refused so that "nan" can never reach the rendered report.
    """
    if isinstance(value, np.ndarray):
        return significant(value.tolist(), digits)
    if isinstance(value, np.generic):
        return significant(value.item(), digits)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MetricsError(f"refusing to write a non-finite number ({value})")
        return float(f"{value:.{digits}g}")
    if isinstance(value, Mapping):
        return {str(key): significant(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [significant(item, digits) for item in value]
    if isinstance(value, Path):
        return value.as_posix()
    raise MetricsError(f"{type(value).__name__} is not JSON serialisable")


def write_metrics(metrics_dir: Path | str, name: str, payload: Mapping[str, Any]) -> Path:
    """Writes ``<metrics_dir>/<name>.json`` atomically, floats rounded by ``significant``."""
    directory = Path(metrics_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    try:
        content = json.dumps(significant(payload), indent=2, allow_nan=False) + "\n"
    except MetricsError as error:
        raise MetricsError(f"{name}.json would contain NaN or infinity: {error}") from error
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(content)
    staging.replace(path)
    return path


def read_json(path: Path) -> dict[str, Any]:
    """Reads one metrics file, with a one-line error naming the file when it cannot."""
    if not path.is_file():
        raise MetricsError(f"{path} is missing")
    try:
        loaded = json.loads(path.read_text())
    except ValueError as error:
        raise MetricsError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise MetricsError(f"{path} does not hold a JSON object")
    return loaded


def load_training_metrics(metrics_dir: Path | str) -> dict[str, Any]:
    """``training.json`` as written by ``python -m training.train``."""
    return read_json(Path(metrics_dir) / TRAINING_METRICS)
