"""``python -m benchmarks.batch`` (``make batch-bench``): both batch engines on a 1,000,000-row
file; prints the figures and writes them to ``reports/benchmarks/batch.json``.

The file is the canonical dataset repeated with fresh ``post_id``s (no other data is ever
generated). Each engine runs as its own process, the way a user runs it, so wall time includes
interpreter and JVM start-up and the bundle's verification. Peak RSS is the whole process tree
(for Spark: the Python driver, the JVM and its Python workers), sampled every 0.1 s from /proc.
The machine's load average is recorded before and after: other work on the same cores slows
both engines, and Spark's two workers more than the local engine's one process.
"""

from __future__ import annotations

import argparse
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

from benchmarks.records import write_record
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


ENGINES: Final = ("local", "spark")


def engine_options(name: str, master: str) -> list[str]:
    """The batch CLI's options that choose ``name``'s engine."""
    return ["--engine", name, *(["--master", master] if name == "spark" else [])]


def run_engines(
    source: Path, work: Path, args: argparse.Namespace, model_dir: Path
) -> tuple[dict[str, list[Run]], dict[str, dict[str, str]]]:
    """Each engine ``args.repeats`` times on ``source``, interleaved so that load drifts hit
    both alike; returns the runs and the Parquet column types each engine wrote."""
    runs: dict[str, list[Run]] = {name: [] for name in ENGINES}
    types: dict[str, dict[str, str]] = {}
    for repeat in range(args.repeats):
        for name in ENGINES:
            output = work / f"{name}-{repeat}.parquet"
            command = [sys.executable, "-m", "batch", *engine_options(name, args.master),
                       "--input", str(source), "--output", str(output),
                       "--model-dir", str(model_dir)]  # fmt: skip
            run = measure(command)
            runs[name].append(run)
            types[name] = column_types(output)
            print(f"  run {repeat + 1} {name:<5} {run.wall_s:7.1f} s  {run.peak_rss_mb:6.0f} MB")
    return runs, types


def median_run(done: list[Run]) -> Run:
    return Run(
        statistics.median(run.wall_s for run in done),
        statistics.median(run.peak_rss_mb for run in done),
    )


def print_table(medians: dict[str, Run], args: argparse.Namespace) -> None:
    print(f"\n| engine | wall time (median of {args.repeats}) | rows/s | peak RSS (process tree) |")
    print("|---|---:|---:|---:|")
    for name, median in medians.items():
        label = f"spark `{args.master}`" if name == "spark" else "local (chunked)"
        print(
            f"| {label} | {median.wall_s:.1f} s | {args.rows / median.wall_s:,.0f} "
            f"| {median.peak_rss_mb:,.0f} MB |"
        )


def summary(
    args: argparse.Namespace,
    argv: list[str],
    runs: dict[str, list[Run]],
    types: dict[str, dict[str, str]],
    context: dict[str, Any],
) -> dict[str, Any]:
    """The JSON record: the command, the machine (``context``) and each engine's runs."""
    medians = {name: median_run(done) for name, done in runs.items()}
    return {
        "command": " ".join(["python -m benchmarks.batch", *argv]),
        "rows": args.rows,
        "repeats": args.repeats,
        "spark_master": args.master,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **context,
        "engines": {
            name: {
                "median": asdict(medians[name]),
                "rows_per_s": round(args.rows / medians[name].wall_s),
                "runs": [asdict(run) for run in done],
                "parquet_column_types": types[name],
            }
            for name, done in runs.items()
        },
        "spark_over_local": round(medians["spark"].wall_s / medians["local"].wall_s, 3),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the local and Spark batch engines.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine (median shown)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"default {DEFAULT_JSON}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = argv if argv is not None else sys.argv[1:]
    args = parse_args(arguments)
    model_dir = args.model_dir or model_dir_from_env()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="feedrank-bench-") as work:
        source = Path(work) / "posts.csv"
        write_input(source, args.rows)
        size_mb = source.stat().st_size / 2**20
        print(f"input: {args.rows:,} rows, {size_mb:.0f} MB CSV; output Parquet")
        runs, types = run_engines(source, Path(work), args, model_dir)
    context = {
        "input_mb": round(size_mb, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    record = summary(args, arguments, runs, types, context)
    print_table({name: median_run(done) for name, done in runs.items()}, args)
    print(
        f"\nspark / local wall time: {record['spark_over_local']:.2f}x "
        f"(load average {load_before} -> {context['load_average_after']})"
    )
    print(f"spark's Parquet columns: {types['spark']}")
    write_record(record, args.json)
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
