"""A ``RankingModel`` as plain data: the document a bundle's ``scoring.json`` holds.

The document carries the fitted feature state (``features.transform.Features.to_dict``), the
estimator (logistic coefficients or ``bundle.trees`` node table) and the Platt calibrator.
Floats are written with ``repr`` precision and read back bit for bit, nothing in it can
execute on load, and reading it needs NumPy alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, get_args

import numpy as np

from bundle.scoring import Estimator, Family, LogisticModel, PlattCalibrator, RankingModel
from bundle.trees import TreeEnsemble, TreeExportError
from features.transform import Features, FeatureStateError

FORMAT: Final = "feedrank-scoring/2"


class ExportError(ValueError):
    """``scoring.json`` is malformed, or describes a model this module cannot evaluate."""


def export_model(model: RankingModel) -> dict[str, Any]:
    """The ``scoring.json`` document of a fitted model.

    Raises:
        ExportError: The estimator is of a kind no bundle runtime evaluates.
    """
    return {
        "format": FORMAT,
        "family": model.family,
        "features": model.features.to_dict(),
        "estimator": export_estimator(model.estimator),
        "calibrator": {
            "slope": float(model.calibrator.slope),
            "intercept": float(model.calibrator.intercept),
        },
    }


def export_estimator(estimator: Estimator) -> dict[str, Any]:
    """The estimator part of ``scoring.json`` (``estimator_from_export`` reads it)."""
    if isinstance(estimator, LogisticModel):
        return {
            "kind": "logistic",
            "mean": _floats(estimator.mean),
            "scale": _floats(estimator.scale),
            "coef": _floats(estimator.coef),
            "intercept": float(estimator.intercept),
        }
    if isinstance(estimator, TreeEnsemble):
        return {"kind": "trees", **estimator.to_dict()}
    raise ExportError(f"cannot export a {type(estimator).__name__} estimator")


def model_from_export(document: Mapping[str, Any]) -> RankingModel:
    """Builds the model from a parsed ``scoring.json``.

    Raises:
        ExportError: Another format, or a missing or malformed part (naming it).
    """
    if document.get("format") != FORMAT:
        raise ExportError(f"format is {document.get('format')!r}, expected {FORMAT!r}")
    try:
        family = document["family"]
        if family not in get_args(Family):
            raise ExportError(f"unknown model family {family!r}")
        calibrator = PlattCalibrator(
            float(document["calibrator"]["slope"]), float(document["calibrator"]["intercept"])
        )
        return RankingModel(
            family,
            Features.from_dict(document["features"]),
            estimator_from_export(document["estimator"]),
            calibrator,
        )
    except ExportError:
        raise
    except (FeatureStateError, TreeExportError) as error:
        raise ExportError(str(error)) from error
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ExportError(f"malformed scoring export: {error!r}") from error


def estimator_from_export(spec: Mapping[str, Any]) -> Estimator:
    """The estimator part of ``scoring.json``: logistic coefficients or a tree table."""
    if spec["kind"] == "logistic":
        return LogisticModel(
            mean=np.asarray(spec["mean"], dtype=np.float64),
            scale=np.asarray(spec["scale"], dtype=np.float64),
            coef=np.asarray(spec["coef"], dtype=np.float64),
            intercept=float(spec["intercept"]),
        )
    if spec["kind"] == "trees":
        return TreeEnsemble.from_dict(spec)
    raise ExportError(f"unknown estimator kind {spec['kind']!r}")


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
