"""``python -m benchmarks.report``: reports/performance.md from the committed benchmark JSON.

Reads ``reports/benchmarks/perf.json`` (``make perf``) and, where present, the container runs
(``container-c*.json``, ``make docker-smoke`` and ``make benchmark``), the soak (``soak.json``,
``make soak``), the edge probes (``edge.json``, ``make edge``), the topology under load
(``stack.json``, ``make stack-bench``) and the feature store's reads
(``store_read.json``, ``make store-bench``), draws throughput and p99
latency against concurrency into ``reports/figures/performance.png``, and renders
``benchmarks/templates/performance.md.j2`` with the capacity plan computed from them
(``benchmarks.capacity``). Every figure the serving docs quote is in this
report, and each comes from one of those files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks import capacity

ROOT: Final = Path(__file__).resolve().parent.parent
BENCHMARKS: Final = ROOT / "reports" / "benchmarks"
FIGURE: Final = ROOT / "reports" / "figures" / "performance.png"
OUTPUT: Final = ROOT / "reports" / "performance.md"
TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
LABELS: Final = {
    "health": "/health",
    "echo": "echo floor",
    "rank": "/rank",
    "baseline": "/rank at the baseline",
}


def plot(perf: dict[str, Any], path: Path) -> None:
    """Throughput and p99 latency of every target against concurrency, one panel each."""
    rows = perf["rows"]
    concurrency = [row["concurrency"] for row in rows]
    names = [name for name in LABELS if name in rows[0]]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in names:
        left.plot(concurrency, [row[name]["rps"] for row in rows], marker="o", label=LABELS[name])
        right.plot(
            concurrency, [row[name]["p99_ms"] for row in rows], marker="o", label=LABELS[name]
        )
    for axes, title in ((left, "throughput (requests/s)"), (right, "p99 latency (ms)")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(concurrency, [str(c) for c in concurrency])
        axes.set_xlabel("concurrent connections (wrk)")
        axes.set_title(title)
        axes.grid(alpha=0.3)
    left.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)


def optional(path: Path) -> dict[str, Any] | None:
    """A benchmark's JSON, or None where that benchmark has not been run."""
    loaded: dict[str, Any] | None = json.loads(path.read_text()) if path.is_file() else None
    return loaded


def render(benchmarks: Path = BENCHMARKS, output: Path = OUTPUT, figure: Path = FIGURE) -> str:
    perf = json.loads((benchmarks / "perf.json").read_text())
    containers = [
        json.loads(path.read_text())
        for path in sorted(
            benchmarks.glob("container-c*.json"), key=lambda p: int(p.stem.split("-c")[1])
        )
    ]
    stack = optional(benchmarks / "stack.json")
    decay = json.loads((ROOT / "reports" / "metrics" / "decay.json").read_text())
    plot(perf, figure)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    text = environment.get_template("performance.md.j2").render(
        perf=perf,
        labels=LABELS,
        containers=containers,
        soak=optional(benchmarks / "soak.json"),
        edge=optional(benchmarks / "edge.json"),
        stack=stack,
        capacity=capacity.plan(perf, stack),
        staleness=capacity.staleness(decay),
        store_read=optional(benchmarks / "store_read.json"),
        figure=figure.relative_to(output.parent).as_posix(),
    )
    output.write_text(text)
    return text


def main() -> int:
    render()
    sys.stdout.write(f"wrote {OUTPUT.relative_to(ROOT)} and {FIGURE.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
