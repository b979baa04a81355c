"""The one way a benchmark writes its JSON record (standard library: the client set uses it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def write_record(record: dict[str, Any], path: Path) -> str:
    """Writes ``record`` to ``path`` as indented JSON, creating its folder; returns the text."""
    text = json.dumps(record, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def emit(record: dict[str, Any], path: Path | None) -> None:
    """Prints ``record`` as JSON, and writes it to ``path`` too when one is given."""
    sys.stdout.write(json.dumps(record, indent=2) + "\n")
    if path is not None:
        write_record(record, path)
