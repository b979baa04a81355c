"""The wrk figures in SERVING.md and the README are the committed ``make perf`` reports.

``make perf`` writes ``reports/benchmarks/perf-w<workers>.json``; the Performance tables are
its rendered rows, so re-measuring means re-rendering them (``python -m benchmarks.perf`` prints
exactly these lines).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.perf import render

from .conftest import ROOT

REPORTS = sorted((ROOT / "reports" / "benchmarks").glob("perf-w*.json"))
SERVING = (ROOT / "SERVING.md").read_text()
README = (ROOT / "README.md").read_text()
TABLE_ROW = re.compile(r"^\| \d+ \| [\d,]+ \(p50 .*\|$", re.M)


@pytest.mark.parametrize("path", REPORTS, ids=lambda path: path.stem)
def test_performance_tables_are_the_committed_reports(path: Path) -> None:
    rows = TABLE_ROW.findall(render(json.loads(path.read_text())))
    assert rows
    for row in rows:
        assert row in SERVING, row


def test_readme_quotes_the_single_worker_report() -> None:
    single = [path for path in REPORTS if path.stem == "perf-w1"]
    assert single, "expected reports/benchmarks/perf-w1.json"
    rendered = TABLE_ROW.findall(render(json.loads(single[0].read_text())))
    quoted = TABLE_ROW.findall(README)
    assert quoted and all(row in rendered for row in quoted), quoted
