"""``python -m benchmarks.perf`` (``make perf``): /rank against its floor and a baseline, with wrk.

Starts local servers, one process each: the service (``python -m serving``, as the image runs
it), the fixed yardstick (``benchmarks.echo_floor``, a FastAPI echo on uvicorn) and, with
``--baseline REV``, the service as it was at git revision ``REV``,
run from a temporary ``git worktree`` with this interpreter. For each repetition and each
concurrency it drives /health, the echo floor, /rank (20-post slates) and the baseline's /rank
with wrk in turn, rotating their order, and records throughput, latency and the server's CPU
per request (from /proc, all its processes). Interleaving in one run is what makes the ratios
meaningful on a machine whose speed varies. The in-process stage costs
(``benchmarks.in_process``) are measured in the same command. The JSON goes to ``--json``;
``python -m benchmarks.report`` renders it into reports/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.in_process import measure as measure_in_process
from benchmarks.payloads import DEFAULT_DATA, describe_source, load_posts, slate_body
from benchmarks.records import write_record
from benchmarks.wrk import WrkError, WrkResult, run_wrk, write_bodies

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
START_TIMEOUT_S: Final = 120.0
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One wrk run against one target, plus the server CPU it cost."""

    target: str
    concurrency: int
    repetition: int
    wrk: WrkResult
    cpu_ms_per_request: float | None


@dataclass(frozen=True)
class Target:
    """A server to start, where it runs, and the path wrk drives on it."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    ready: str
    path: str = "/rank"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running(target: Target, url: str) -> Iterator[int]:
    """Runs a server until the block ends; yields its pid once ``url + ready`` answers 200."""
    process = subprocess.Popen(
        target.command,
        cwd=target.cwd,
        env=target.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(url + target.ready):
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read() if process.stderr else ""
                command = " ".join(target.command)
                raise SystemExit(f"error: {command} did not start:\n{stderr[-2000:]}")
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (the server's worker processes)."""
    total = 0.0
    for process in (pid, *_children(pid)):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def baseline_bundle(tree: Path, data: Path) -> Path:
    """The deployed configuration (``reports/metrics/training.json``) trained by the baseline's
    own code, in its worktree: bundle formats may differ between revisions."""
    deployed = json.loads((ROOT / "reports" / "metrics" / "training.json").read_text())["deployed"]
    (tree / "data").mkdir(exist_ok=True)
    (tree / "data" / "posts.csv").write_bytes(data.read_bytes())
    model_dir = tree / "models"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--family",
            deployed["family"],
            "--groups",
            ",".join(deployed["groups"]),
            "--model-dir",
            str(model_dir),
        ],
        cwd=tree,
        check=True,
        capture_output=True,
    )
    return model_dir


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A temporary checkout of ``revision`` (``git worktree``), removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="feedrank-baseline-"))
    path = scratch / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
        )
        scratch.rmdir()


def targets(args: argparse.Namespace, baseline_tree: Path | None) -> dict[str, Target]:
    env = dict(os.environ)
    if args.model_dir is not None:
        env["FEEDRANK_MODEL_DIR"] = str(args.model_dir.resolve())
    python = sys.executable
    out = {
        "health": Target([python, "-m", "serving"], ROOT, env, "/ready", "/health"),
        "echo": Target(
            [python, "-m", "benchmarks.echo_floor"],
            ROOT,
            env,
            "/health",
        ),
        "rank": Target([python, "-m", "serving"], ROOT, env, "/ready"),
    }
    if baseline_tree is not None:
        model_dir = args.baseline_model_dir or baseline_bundle(baseline_tree, args.data)
        baseline_env = {
            **env,
            "FEEDRANK_MODEL_DIR": str(model_dir.resolve()),
        }
        command = [python, "-m", "serving", *args.baseline_option]
        out["baseline"] = Target(command, baseline_tree, baseline_env, "/ready")
    return out


def measure(
    args: argparse.Namespace, bodies: Path, servers: dict[str, Target]
) -> tuple[list[Sample], dict[str, Any]]:
    """Starts the servers and runs every (repetition, concurrency, target) once."""
    ports = {name: free_port() for name in servers}
    ports["health"] = ports["rank"]  # the same server
    urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    samples: list[Sample] = []
    with contextlib.ExitStack() as stack:
        pids: dict[str, int] = {}
        for name, target in servers.items():
            if name == "health":
                continue
            options = ["--host", HOST, "--port", str(ports[name])]
            started = Target([*target.command, *options], target.cwd, target.env, target.ready)
            pids[name] = stack.enter_context(running(started, urls[name]))
        pids["health"] = pids["rank"]
        with urllib.request.urlopen(f"{urls['rank']}/model", timeout=5) as response:
            model = json.load(response)
        paths = {name: urls[name] + target.path for name, target in servers.items()}
        order = list(servers)
        for name in order:  # warm-up: imports, caches, allocator, CPU frequency
            run_wrk(paths[name], 8, 1, None if name == "health" else bodies)
        for repetition in range(args.repeats):
            for concurrency in args.concurrency:
                turn = repetition % len(order)
                for name in order[turn:] + order[:turn]:
                    before = cpu_seconds(pids[name])
                    body = None if name == "health" else bodies
                    result = run_wrk(paths[name], concurrency, args.seconds, body)
                    used = cpu_seconds(pids[name]) - before
                    per_request = used * 1e3 / result.requests if result.requests else None
                    samples.append(Sample(name, concurrency, repetition, result, per_request))
    return samples, model


def summarise(samples: list[Sample], concurrency: int) -> dict[str, Any]:
    """Medians over repetitions for one concurrency, and /rank's ratios to echo and baseline,
    each from the runs of one repetition (the range over repetitions beside it)."""
    row: dict[str, Any] = {"concurrency": concurrency}
    mine = [s for s in samples if s.concurrency == concurrency]
    for name in dict.fromkeys(s.target for s in mine):
        runs = [s for s in mine if s.target == name]
        cpu = [s.cpu_ms_per_request for s in runs if s.cpu_ms_per_request is not None]
        row[name] = {
            "rps": statistics.median(s.wrk.throughput_rps for s in runs),
            "p50_ms": statistics.median(s.wrk.p50_ms for s in runs),
            "p99_ms": statistics.median(s.wrk.p99_ms for s in runs),
            "cpu_ms_per_request": statistics.median(cpu) if cpu else None,
            "errors": sum(s.wrk.errors for s in runs),
        }
    for other in ("echo", "baseline"):
        if other not in row:
            continue
        by_repetition = {s.repetition: s.wrk.throughput_rps for s in mine if s.target == other}
        ratios = [
            s.wrk.throughput_rps / by_repetition[s.repetition] for s in mine if s.target == "rank"
        ]
        row[f"rank_over_{other}"] = statistics.median(ratios)
        row[f"rank_over_{other}_range"] = [min(ratios), max(ratios)]
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts for the slates")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default=None, help="a git revision to compare against")
    parser.add_argument(
        "--baseline-model-dir",
        type=Path,
        default=None,
        help="its bundle (default: the deployed configuration, trained by the baseline's code)",
    )
    parser.add_argument(
        "--baseline-option",
        action="append",
        default=[],
        help="an option for the baseline's python -m serving (repeatable)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.seconds < 1:
        parser.error("--repeats and --seconds must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feedrank-perf-")))
        bodies = write_bodies(
            scratch / "bodies.jsonl", [slate_body(posts, 20, rng) for _ in range(256)]
        )
        tree = stack.enter_context(worktree(args.baseline)) if args.baseline else None
        try:
            samples, model = measure(args, bodies, targets(args, tree))
        except WrkError as error:
            sys.stderr.write(f"error: {error}\n")
            return 2
    model_dir = args.model_dir or ROOT / "models"
    report = {
        "seconds": args.seconds,
        "repeats": args.repeats,
        "slate": f"20 posts per /rank request; {describe_source(args.data)}",
        "model_version": model["model_version"],
        "model_family": model["family"],
        "baseline": args.baseline,
        "rows": [summarise(samples, concurrency) for concurrency in args.concurrency],
        "in_process": measure_in_process(model_dir, args.data, requests=2000, repeats=5),
        "samples": [asdict(sample) for sample in samples],
    }
    errors = sum(s.wrk.errors for s in samples)
    for row in report["rows"]:
        ratios = ", ".join(
            f"/rank ÷ {other} {row[f'rank_over_{other}']:.2f}"
            for other in ("echo", "baseline")
            if f"rank_over_{other}" in row
        )
        sys.stdout.write(f"concurrency {row['concurrency']}: {ratios}\n")
    if args.json is not None:
        write_record(report, args.json)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
