"""What every test folder shares: the repository root, the server launcher, the bundle factory."""

from __future__ import annotations

from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent.parent
