"""``python -m batch.bench``: both batch engines on a 1,000,000-row file; prints the figures.

The file is the canonical dataset repeated with fresh ``post_id``s (no other data is ever
generated). Each engine runs as its own process, the way a user runs it, so wall time includes
interpreter and JVM start-up and the bundle's verification. Peak RSS is the whole process tree
(for Spark: the Python driver, the JVM and its Python workers), sampled every 0.1 s from /proc.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd

from bundle.store import model_dir_from_env

ROOT: Final = Path(__file__).resolve().parent.parent
CANONICAL: Final = ROOT / "data" / "posts.csv"
PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S: Final = 0.1


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
    args = parser.parse_args(argv)
    model_dir = args.model_dir or model_dir_from_env()
    engines = {
        "local": ["--engine", "local"],
        "spark": ["--engine", "spark", "--master", args.master],
    }
    runs: dict[str, list[Run]] = {name: [] for name in engines}
    with tempfile.TemporaryDirectory(prefix="feedrank-bench-") as work:
        source = Path(work) / "posts.csv"
        write_input(source, args.rows)
        size_mb = source.stat().st_size / 2**20
        print(f"input: {args.rows:,} rows, {size_mb:.0f} MB CSV; output Parquet")
        for repeat in range(args.repeats):
            for name, options in engines.items():  # interleaved, so load drifts hit both alike
                output = Path(work) / f"{name}-{repeat}.parquet"
                command = [sys.executable, "-m", "training.predict", *options,
                           "--input", str(source), "--output", str(output),
                           "--model-dir", str(model_dir)]  # fmt: skip
                run = measure(command)
                runs[name].append(run)
                print(
                    f"  run {repeat + 1} {name:<5} {run.wall_s:7.1f} s  {run.peak_rss_mb:6.0f} MB"
                )
    print(f"\n| engine | wall time (median of {args.repeats}) | rows/s | peak RSS (process tree) |")
    print("|---|---:|---:|---:|")
    for name, done in runs.items():
        wall = statistics.median(run.wall_s for run in done)
        rss = statistics.median(run.peak_rss_mb for run in done)
        label = f"spark `{args.master}`" if name == "spark" else "local (chunked)"
        print(f"| {label} | {wall:.1f} s | {args.rows / wall:,.0f} | {rss:,.0f} MB |")
    local = statistics.median(run.wall_s for run in runs["local"])
    spark = statistics.median(run.wall_s for run in runs["spark"])
    print(f"\nspark / local wall time: {spark / local:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
