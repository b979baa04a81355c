"""The one way a benchmark writes its JSON record (standard library: the client set uses it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_record(record: dict[str, Any], path: Path) -> str:
    """Writes ``record`` to ``path`` as indented JSON, creating its folder; returns the text."""
    text = json.dumps(record, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
