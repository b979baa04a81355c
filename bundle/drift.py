"""Input and score drift: a reference distribution saved with the bundle, PSI against it.

At training time ``reference`` bins each raw input field (numbers by training-set deciles, the
subreddit by category, the title by its word count) and the model's predicted score, and the
bin edges and proportions go into ``metadata.json``. The service keeps the same bin index for
each recent post in a ``DriftWindow`` and reports the population stability index of the window
against the reference: PSI = sum((actual - expected) * ln(actual / expected)) over bins. The
usual reading: below 0.1 stable, 0.1 to 0.25 a shift worth a look, above 0.25 a shift large
enough that the model's training data no longer describes its traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from features.schema import CATEGORY_COLUMN, RAW_COLUMNS, TEXT_COLUMN, Posts
from features.transforms import title_length

SCORE_FIELD: Final = "predicted_score"
QUANTILE_BINS: Final = 10
# a bin that is empty on one side would make PSI infinite; floor proportions at this value
MIN_PROPORTION: Final = 1e-4
OTHER_CATEGORY: Final = "<other>"


@dataclass(frozen=True)
class FieldReference:
    """Bins of one field and the training share of each.

    Numeric fields have ``edges`` (bin ``i`` holds ``edges[i-1] <= x < edges[i]``, so there are
    ``len(edges) + 1`` bins); the categorical field has ``categories`` plus an ``<other>`` bin.
    """

    name: str
    proportions: np.ndarray
    edges: np.ndarray | None = None
    categories: tuple[str, ...] = ()

    def bin(self, values: np.ndarray) -> np.ndarray:
        if self.edges is not None:
            return np.searchsorted(self.edges, values, side="right")
        index = {category: i for i, category in enumerate(self.categories)}
        other = len(self.categories)
        return np.fromiter((index.get(v, other) for v in values), np.int64, len(values))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"proportions": self.proportions.tolist()}
        if self.edges is not None:
            out["edges"] = self.edges.tolist()
        else:
            out["categories"] = [*self.categories, OTHER_CATEGORY]
        return out

    @classmethod
    def from_dict(cls, name: str, raw: Mapping[str, Any]) -> FieldReference:
        proportions = np.asarray(raw["proportions"], dtype=np.float64)
        if "edges" in raw:
            edges = np.asarray(raw["edges"], dtype=np.float64)
            if len(proportions) != len(edges) + 1:
                raise ValueError(f"drift field {name!r}: {len(edges)} edges need one more bin")
            return cls(name, proportions, edges=edges)
        categories = tuple(str(c) for c in raw["categories"])
        if len(proportions) != len(categories) or categories[-1] != OTHER_CATEGORY:
            raise ValueError(f"drift field {name!r}: categories and proportions disagree")
        return cls(name, proportions, categories=categories[:-1])


def field_values(posts: Posts) -> dict[str, np.ndarray]:
    """The raw input fields as drift sees them: numbers as they are, titles as word counts."""
    values = {column: np.asarray(posts[column], dtype=np.float64) for column in RAW_COLUMNS}
    values[CATEGORY_COLUMN] = np.asarray(posts[CATEGORY_COLUMN], dtype=object)
    values[TEXT_COLUMN] = title_length(posts[TEXT_COLUMN])
    return values


def _numeric_reference(name: str, values: np.ndarray) -> FieldReference:
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, QUANTILE_BINS + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return FieldReference(name, counts / counts.sum(), edges=edges)


def reference(posts: Posts, scores: np.ndarray) -> dict[str, Any]:
    """The JSON-ready drift reference of a training set and the model's scores on it."""
    fields: dict[str, Any] = {}
    for name, values in field_values(posts).items():
        if name == CATEGORY_COLUMN:
            categories, counts = np.unique(values.astype(str), return_counts=True)
            shares = np.append(counts / counts.sum(), 0.0)
            ref = FieldReference(name, shares, categories=tuple(categories.tolist()))
        else:
            ref = _numeric_reference(name, values)
        fields[name] = ref.as_dict()
    fields[SCORE_FIELD] = _numeric_reference(SCORE_FIELD, scores).as_dict()
    return {"rows": len(scores), "mean_score": float(np.mean(scores)), "fields": fields}


def psi(expected: np.ndarray, counts: np.ndarray) -> float:
    """Population stability index of observed bin ``counts`` against ``expected`` shares."""
    total = counts.sum()
    if total == 0:
        return 0.0
    actual = np.maximum(counts / total, MIN_PROPORTION)
    base = np.maximum(expected, MIN_PROPORTION)
    return float(np.sum((actual - base) * np.log(actual / base)))


class DriftWindow:
    """The bin indices of the last ``size`` posts a model scored, and PSI over them.

    A ring buffer of small integers: adding a 20-post request is one ``searchsorted`` per
    field; PSI is computed only when asked (at a scrape, or every few requests).
    """

    def __init__(self, raw_reference: Mapping[str, Any], size: int) -> None:
        self.fields = [
            FieldReference.from_dict(name, spec) for name, spec in raw_reference["fields"].items()
        ]
        self.reference_mean = float(raw_reference["mean_score"])
        self.size = size
        self.bins = np.zeros((size, len(self.fields)), dtype=np.int16)
        self.scores = np.zeros(size, dtype=np.float64)
        self.position = 0
        self.filled = 0

    @property
    def names(self) -> Sequence[str]:
        return [field.name for field in self.fields]

    def add(self, posts: Posts, scores: np.ndarray) -> None:
        values = {**field_values(posts), SCORE_FIELD: scores}
        rows = np.stack([field.bin(values[field.name]) for field in self.fields], axis=1)
        n = min(len(scores), self.size)
        slots = (self.position + np.arange(n)) % self.size
        self.bins[slots] = rows[-n:]
        self.scores[slots] = scores[-n:]
        self.position = (self.position + n) % self.size
        self.filled = min(self.filled + n, self.size)

    def psi(self) -> dict[str, float]:
        window = self.bins[: self.filled]
        return {
            field.name: psi(
                field.proportions, np.bincount(window[:, i], minlength=len(field.proportions))
            )
            for i, field in enumerate(self.fields)
        }

    def mean_score(self) -> float:
        return float(self.scores[: self.filled].mean()) if self.filled else 0.0
