"""Names shared by the rollout tests and their fixtures (``tests.rollout_fixtures``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAIN_ROWS = 10_000
CHAMPION = "champion-test"
CHALLENGER = "challenger-test"


@dataclass(frozen=True)
class RolloutModels:
    champion: Path
    challenger: Path
