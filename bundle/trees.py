"""LightGBM's raw score from its trees as plain data, evaluated with NumPy.

``TreeEnsemble.from_booster`` flattens the trees ``Booster.predict(num_iteration=...)`` uses into
one node table (JSON-ready with ``to_dict``); ``decision_function`` walks every (tree, row) pair
at once. The service thereby scores LightGBM models without LightGBM, whose wheel brings SciPy
and OpenMP; tests/bundle/test_parity.py bounds the difference to ``Booster.predict`` at 1e-9.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:  # annotations only: the service imports this module without LightGBM
    import lightgbm as lgb

# LightGBM's kZeroThreshold (a C float) for splits whose missing type is "Zero"
ZERO_THRESHOLD: Final = float(np.float32(1e-35))
MISSING_CODES: Final = {"None": 0, "Zero": 1, "NaN": 2}
_NODE_KEYS: Final = ("feature", "threshold", "left", "right", "default_left", "missing", "value")


class TreeExportError(ValueError):
    """A booster with splits this walker cannot evaluate, or a malformed node table."""


@dataclass(frozen=True)
class TreeEnsemble:
    """One flat node table for every tree. Leaves point to themselves, so ``depth`` rounds of
    "go left if x <= threshold" settle every (tree, row) pair; the leaf values are then summed
    tree by tree, in LightGBM's order."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int
    _children: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # (right, left) per node, flat: a node's next index is children[2 * node + went_left]
        object.__setattr__(self, "_children", np.column_stack([self.right, self.left]).ravel())

    def decision_function(self, matrix: np.ndarray) -> np.ndarray:
        n_rows, n_features = matrix.shape
        flat = np.ascontiguousarray(matrix, dtype=np.float64).ravel()
        row_starts = np.arange(n_rows) * n_features
        nodes = np.repeat(self.roots[:, None], n_rows, axis=1)
        children = self._children
        handles_missing = bool(self.missing.any())
        if not handles_missing and np.isnan(flat).any():
            flat = np.where(np.isnan(flat), 0.0, flat)  # no split has a missing branch: NaN is 0
        for _ in range(self.depth):
            x = flat.take(row_starts + self.feature.take(nodes))
            if handles_missing:
                go_left = self._missing_aware(nodes, x)
            else:
                go_left = x <= self.threshold.take(nodes)
            nodes = children.take(2 * nodes + go_left)
        # (trees, rows) summed over axis 0: sequential per row, as LightGBM adds tree outputs
        result: np.ndarray = self.value.take(nodes).sum(axis=0)
        return result

    def _missing_aware(self, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
        """LightGBM's numerical decision: NaN is 0 unless the split has a NaN branch; missing
        values (NaN, or near-zero for "Zero" splits) take the split's default side."""
        missing = self.missing[nodes]
        x = np.where(np.isnan(x) & (missing != MISSING_CODES["NaN"]), 0.0, x)
        is_missing = ((missing == MISSING_CODES["Zero"]) & (np.abs(x) <= ZERO_THRESHOLD)) | (
            (missing == MISSING_CODES["NaN"]) & np.isnan(x)
        )
        result: np.ndarray = np.where(
            is_missing, self.default_left[nodes], x <= self.threshold[nodes]
        )
        return result

    @classmethod
    def from_booster(cls, booster: lgb.Booster, num_iteration: int) -> TreeEnsemble:
        """The trees of ``booster`` up to ``num_iteration``, from its JSON dump.

        Raises:
            TreeExportError: Multi-output, averaged or categorical models.
        """
        dump = booster.dump_model(num_iteration=num_iteration)
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
            raise TreeExportError("only single-output, additive LightGBM models are supported")
        nodes: dict[str, list[Any]] = {key: [] for key in _NODE_KEYS}
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
                    raise TreeExportError(f"unsupported split {node.get('decision_type')!r}")
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
                raise TreeExportError("categorical splits are not supported")
            roots.append(add(tree["tree_structure"], 0))
        return cls.from_dict({"nodes": nodes, "roots": roots, "depth": depth})

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": {key: getattr(self, key).tolist() for key in _NODE_KEYS},
            "roots": self.roots.tolist(),
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TreeEnsemble:
        """The ensemble written by ``to_dict``; indices are checked, so a walk stays in bounds.

        Raises:
            TreeExportError: Columns of different lengths or an index outside the table.
        """
        nodes = spec["nodes"]
        ensemble = cls(
            feature=np.asarray(nodes["feature"], dtype=np.intp),
            threshold=np.asarray(nodes["threshold"], dtype=np.float64),
            left=np.asarray(nodes["left"], dtype=np.intp),
            right=np.asarray(nodes["right"], dtype=np.intp),
            default_left=np.asarray(nodes["default_left"], dtype=bool),
            missing=np.asarray(nodes["missing"], dtype=np.int8),
            value=np.asarray(nodes["value"], dtype=np.float64),
            roots=np.asarray(spec["roots"], dtype=np.intp),
            depth=int(spec["depth"]),
        )
        size = len(ensemble.value)
        if any(len(getattr(ensemble, key)) != size for key in _NODE_KEYS):
            raise TreeExportError("tree node columns differ in length")
        for key in ("left", "right", "roots"):
            column = getattr(ensemble, key)
            if column.size and (column.min() < 0 or column.max() >= size):
                raise TreeExportError(f"tree {key} index outside the node table")
        if ensemble.feature.size and ensemble.feature.min() < 0:
            raise TreeExportError("negative tree split feature")
        return ensemble
