"""What a write left behind in a directory."""

from __future__ import annotations

from pathlib import Path


def hidden_leftovers(*directories: Path) -> list[str]:
    return sorted(
        str(p) for d in directories if d.exists() for p in d.iterdir() if p.name.startswith(".")
    )
