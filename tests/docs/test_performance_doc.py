"""reports/performance.md is what ``python -m benchmarks.report`` renders from the committed
benchmark JSON, so every measured figure the serving docs point to has its source beside it."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import BENCHMARKS, OUTPUT, render


def test_performance_report_is_rendered_from_the_committed_json(tmp_path: Path) -> None:
    rendered = render(BENCHMARKS, tmp_path / OUTPUT.name, tmp_path / "figures" / "performance.png")
    assert rendered == OUTPUT.read_text()
    assert "/rank" in rendered and "## In process" in rendered


def test_the_soak_the_edge_probes_and_the_store_reads_are_in_the_report() -> None:
    """``make soak``, ``make edge`` and ``make store-bench`` commit their JSON; the report
    carries each."""
    report = OUTPUT.read_text()
    for name, heading in (
        ("soak.json", "## The soak"),
        ("edge.json", "## The HTTP edge"),
        ("store_read.json", "## Feature store reads"),
    ):
        assert (BENCHMARKS / name).is_file(), name
        assert heading in report, heading
