"""Dependency pins: the serving image installs a subset of what the pipeline was tested with.

``requirements-serve.txt`` is compiled with ``-c requirements.txt``; this catches a hand edit or
a recompile of one file without the other, which would let the image serve a bundle with other
library versions than those that trained and tested it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line; fails on any unpinned requirement."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return found


def test_every_requirement_is_pinned() -> None:
    assert len(pins(ROOT / "requirements.txt")) > 50
    assert len(pins(ROOT / "requirements-serve.txt")) > 10


def test_serving_pins_are_a_subset_of_the_pipelines() -> None:
    full, serve = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-serve.txt")
    missing = sorted(set(serve) - set(full))
    assert not missing, f"serving-only packages, untested by the pipeline: {missing}"
    differ = {
        name: (version, full[name]) for name, version in serve.items() if full[name] != version
    }
    assert not differ, f"serving pins differ from requirements.txt: {differ}"


def test_serving_set_leaves_out_the_notebook_and_training_stack() -> None:
    serve = pins(ROOT / "requirements-serve.txt")
    assert not {"pandas", "jupyter", "papermill", "shap", "ruff", "pytest"} & set(serve)


def test_pin_parser_rejects_an_unpinned_line(tmp_path: Path) -> None:
    loose = tmp_path / "requirements.txt"
    loose.write_text("numpy==2.0.0\nfastapi>=0.100\n")
    with pytest.raises(AssertionError, match=re.escape("not pinned with ==: 'fastapi>=0.100'")):
        pins(loose)
