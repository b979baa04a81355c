"""The performance report (``benchmarks.report``): each section comes from its benchmark's JSON,
and a benchmark not run leaves its section out."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.report import BENCHMARKS, OUTPUT, render


def test_a_benchmark_not_run_leaves_its_section_out(tmp_path: Path) -> None:
    benchmarks = tmp_path / "benchmarks"
    benchmarks.mkdir()
    shutil.copyfile(BENCHMARKS / "perf.json", benchmarks / "perf.json")
    rendered = render(benchmarks, tmp_path / OUTPUT.name, tmp_path / "figures" / "performance.png")
    assert "## In process" in rendered
    for heading in ("## The container", "## The soak", "## The HTTP edge", "## Feature store"):
        assert heading not in rendered, heading
