"""reports/performance.md is what ``python -m benchmarks.report`` renders from the committed
benchmark JSON, so every measured figure the serving docs point to has its source beside it."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import BENCHMARKS, OUTPUT, render


def test_performance_report_is_rendered_from_the_committed_json(tmp_path: Path) -> None:
    rendered = render(BENCHMARKS, tmp_path / OUTPUT.name, tmp_path / "figures" / "performance.png")
    assert rendered == OUTPUT.read_text()
    assert "/rank" in rendered and "## In process" in rendered
