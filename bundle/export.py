"""Exporting a trained ``RankingModel`` to ``scoring.json``, the numbers ``bundle.lean`` needs.

Runs where the model was trained (``save_model`` writes the export beside the pickle), so it
reads the fitted scikit-learn and LightGBM objects; the result is plain JSON: floats are written
with ``repr`` precision and read back bit for bit, and nothing in it can execute on load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bundle.lean import FORMAT, MISSING_CODES, ExportError
from bundle.scoring import LightGBMModel, LogisticModel, RankingModel


def export_model(model: RankingModel) -> dict[str, Any]:
    """The ``scoring.json`` document of a fitted model.

    Raises:
        ExportError: The estimator is of a kind ``bundle.lean`` cannot evaluate.
    """
    pipeline = model.features
    config = pipeline.config
    features: dict[str, Any] = {
        "groups": list(config.groups),
        "feature_names": list(pipeline.feature_names),
        "decay": {"form": config.decay.form, "param": float(config.decay.param)},
        "known_subreddits": sorted(pipeline.known_subreddits_),
        "subreddit_encoding": {},
        "subreddit_prior": 0.0,  # fitted, and so written, only with the subreddit group
        "tfidf": None,
        "hash_buckets": _hash_buckets(),
    }
    if "subreddit" in config.groups:
        features["subreddit_encoding"] = dict(pipeline.subreddit_encoder.encoding_)
        features["subreddit_prior"] = float(pipeline.subreddit_encoder.prior_)
    tfidf = pipeline.title_tfidf
    if "text" in config.groups:
        if tfidf.vectorizer_ is None or tfidf.classifier_ is None:
            raise ExportError("the text group is enabled but its TF-IDF is not fitted")
        features["tfidf"] = {
            "vocabulary": {str(t): int(c) for t, c in tfidf.vectorizer_.vocabulary_.items()},
            "idf": _floats(tfidf.vectorizer_.idf_),
            "coef": _floats(tfidf.classifier_.coef_.ravel()),
            "intercept": float(tfidf.classifier_.intercept_[0]),
        }
    return {
        "format": FORMAT,
        "family": model.family,
        "features": features,
        "estimator": export_estimator(model.estimator),
        "calibrator": {
            "slope": float(model.calibrator.slope),
            "intercept": float(model.calibrator.intercept),
        },
    }


def _hash_buckets() -> int:
    # imported here: features.text needs scikit-learn, which the service's bundle.store must not
    from features.text import HASH_BUCKETS

    return HASH_BUCKETS


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def export_estimator(estimator: object) -> dict[str, Any]:
    """The estimator part of ``scoring.json`` (``bundle.lean.estimator_from_export`` reads it)."""
    if isinstance(estimator, LogisticModel):
        return {
            "kind": "logistic",
            "mean": _floats(estimator.mean),
            "scale": _floats(estimator.scale),
            "coef": _floats(estimator.coef),
            "intercept": float(estimator.intercept),
        }
    if isinstance(estimator, LightGBMModel):
        return _trees(estimator)
    raise ExportError(f"cannot export a {type(estimator).__name__} estimator")


def _trees(estimator: LightGBMModel) -> dict[str, Any]:
    """Flattens the trees ``predict(num_iteration=best_iteration)`` uses into one node table."""
    dump = estimator.booster.dump_model(num_iteration=estimator.best_iteration)
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
        raise ExportError("only single-output, additive LightGBM models can be exported")
    nodes: dict[str, list[Any]] = {
        key: [] for key in ("feature", "threshold", "left", "right", "default_left", "missing")
    }
    nodes["value"] = []
    roots, depth = [], 0

    def add(node: dict[str, Any], level: int) -> int:
        nonlocal depth
        index = len(nodes["value"])
        for values in nodes.values():
            values.append(None)
        entry: dict[str, Any]
        if "leaf_value" in node:  # a leaf points to itself: extra rounds leave it in place
            depth = max(depth, level)
            entry = {
                "feature": 0,
                "threshold": 0.0,
                "default_left": True,
                "missing": 0,
                "value": float(node["leaf_value"]),
                "left": index,
                "right": index,
            }
        else:
            if node.get("decision_type") != "<=":
                raise ExportError(f"unsupported LightGBM split {node.get('decision_type')!r}")
            entry = {
                "feature": int(node["split_feature"]),
                "threshold": float(node["threshold"]),
                "default_left": bool(node["default_left"]),
                "missing": MISSING_CODES[str(node["missing_type"])],
                "value": 0.0,
                "left": add(node["left_child"], level + 1),
                "right": add(node["right_child"], level + 1),
            }
        for key, value in entry.items():
            nodes[key][index] = value
        return index

    for tree in dump["tree_info"]:
        if tree.get("num_cat", 0):
            raise ExportError("categorical LightGBM splits cannot be exported")
        roots.append(add(tree["tree_structure"], 0))
    return {"kind": "trees", "nodes": nodes, "roots": roots, "depth": depth}
