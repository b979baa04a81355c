"""Reading the Markdown documents the docs tests check, and rendering the performance report."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from benchmarks.report import BENCHMARKS, render


def section(markdown: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"section '## {heading}' is missing"
    return match.group(1)


def words(text: str) -> int:
    """Words of prose, tables left out."""
    prose = re.sub(r"^\|.*\|$", "", text, flags=re.M)
    return len(re.findall(r"[A-Za-z0-9][\w'.%/-]*", prose))


def report_with(tmp_path: Path, name: str, record: dict[str, Any]) -> str:
    """reports/performance.md rendered with ``record`` as the benchmark JSON ``name`` beside the
    committed perf.json: what a fresh run of that benchmark writes must render."""
    benchmarks = tmp_path / "benchmarks"
    benchmarks.mkdir()
    shutil.copyfile(BENCHMARKS / "perf.json", benchmarks / "perf.json")
    (benchmarks / name).write_text(json.dumps(record))
    return render(benchmarks, tmp_path / "performance.md", tmp_path / "figures" / "performance.png")
