"""``python -m batch.bench``: both batch engines on a 1,000,000-row file; prints the figures
and writes them to ``reports/benchmarks/batch.json``.

The file is the canonical dataset repeated with fresh ``post_id``s (no other data is ever
generated). Each engine runs as its own process, the way a user runs it, so wall time includes
interpreter and JVM start-up and the bundle's verification. Peak RSS is the whole process tree
(for Spark: the Python driver, the JVM and its Python workers), sampled every 0.1 s from /proc.
The machine's load average is recorded before and after: other work on the same cores slows
both engines, and Spark's two workers more than the local engine's one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow.dataset as pa_dataset

from bundle.store import model_dir_from_env

ROOT: Final = Path(__file__).resolve().parent.parent
CANONICAL: Final = ROOT / "data" / "posts.csv"
PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S: Final = 0.1
DEFAULT_JSON: Final = ROOT / "reports" / "benchmarks" / "batch.json"


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_rss_mb: float


def write_input(target: Path, rows: int) -> None:
    """The canonical rows, repeated until ``rows``, each copy with ids shifted past the last."""
    base = pd.read_csv(CANONICAL, dtype=str, keep_default_na=False)
    ids = base["post_id"].astype("int64")
    with target.open("w", newline="", encoding="utf-8") as handle:
        for copy, start in enumerate(range(0, rows, len(base))):
            part = base.iloc[: min(len(base), rows - start)].copy()
            part["post_id"] = (ids.iloc[: len(part)] + copy * len(base)).astype(str)
            part.to_csv(handle, index=False, header=copy == 0)


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


def column_types(output: Path) -> dict[str, str]:
    """The Arrow type of each column of a Parquet file or directory of parts."""
    schema = pa_dataset.dataset(output, format="parquet").schema
    return {field.name: str(field.type) for field in schema}


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def measure(command: list[str]) -> Run:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_bytes(process.pid))
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode(errors='replace')[-2000:]}")
    return Run(wall, peak / 2**20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the local and Spark batch engines.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine (median shown)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"default {DEFAULT_JSON}")
    args = parser.parse_args(argv)
    model_dir = args.model_dir or model_dir_from_env()
    engines = {
        "local": ["--engine", "local"],
        "spark": ["--engine", "spark", "--master", args.master],
    }
    runs: dict[str, list[Run]] = {name: [] for name in engines}
    types: dict[str, dict[str, str]] = {}
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="feedrank-bench-") as work:
        source = Path(work) / "posts.csv"
        write_input(source, args.rows)
        size_mb = source.stat().st_size / 2**20
        print(f"input: {args.rows:,} rows, {size_mb:.0f} MB CSV; output Parquet")
        for repeat in range(args.repeats):
            for name, options in engines.items():  # interleaved, so load drifts hit both alike
                output = Path(work) / f"{name}-{repeat}.parquet"
                command = [sys.executable, "-m", "batch", *options,
                           "--input", str(source), "--output", str(output),
                           "--model-dir", str(model_dir)]  # fmt: skip
                run = measure(command)
                runs[name].append(run)
                types[name] = column_types(output)
                print(
                    f"  run {repeat + 1} {name:<5} {run.wall_s:7.1f} s  {run.peak_rss_mb:6.0f} MB"
                )
    load_after = load_average()
    medians = {
        name: Run(
            statistics.median(run.wall_s for run in done),
            statistics.median(run.peak_rss_mb for run in done),
        )
        for name, done in runs.items()
    }
    print(f"\n| engine | wall time (median of {args.repeats}) | rows/s | peak RSS (process tree) |")
    print("|---|---:|---:|---:|")
    for name, median in medians.items():
        label = f"spark `{args.master}`" if name == "spark" else "local (chunked)"
        print(
            f"| {label} | {median.wall_s:.1f} s | {args.rows / median.wall_s:,.0f} "
            f"| {median.peak_rss_mb:,.0f} MB |"
        )
    ratio = medians["spark"].wall_s / medians["local"].wall_s
    print(f"\nspark / local wall time: {ratio:.2f}x (load average {load_before} -> {load_after})")
    print(f"spark's Parquet columns: {types['spark']}")
    summary: dict[str, Any] = {
        "command": " ".join(
            ["python -m batch.bench", *(argv if argv is not None else sys.argv[1:])]
        ),
        "rows": args.rows,
        "input_mb": round(size_mb, 1),
        "repeats": args.repeats,
        "spark_master": args.master,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "engines": {
            name: {
                "median": asdict(medians[name]),
                "rows_per_s": round(args.rows / medians[name].wall_s),
                "runs": [asdict(run) for run in done],
                "parquet_column_types": types[name],
            }
            for name, done in runs.items()
        },
        "spark_over_local": round(ratio, 3),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
