"""``python -m benchmarks.perf``: /rank against the framework's floor, measured with wrk.

Starts two local servers with the same worker count: the service (``python -m serving``, as
the image runs it) and the echo floor (``benchmarks.echo_floor`` under uvicorn with the same
event loop and HTTP parser). Then, for each repetition and each concurrency, it drives /health,
the echo floor and /rank (20-post slates) with wrk in turn, rotating their order, and prints one
table of medians over the repetitions: throughput, p50 latency, the server's CPU per request
(from /proc, all worker processes), /rank ÷ echo in throughput (the per-repetition range in
brackets) and in server CPU per request, the steadier of the two on a shared machine.
Interleaving in one run is what makes the ratios meaningful when the machine is noisy.
``make perf`` runs it.
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

from benchmarks.wrk import WrkError, WrkResult, run_wrk, write_bodies
from serving.payloads import DEFAULT_DATA, describe_source, load_posts, slate_body
CHALLENGER_DIR_ENV, MODE_ENV, SHARE_ENV = "FEEDRANK_CHALLENGER_DIR", "FEEDRANK_CHALLENGER_MODE", "FEEDRANK_CHALLENGER_SHARE"

TARGETS: Final = ("health", "echo", "rank")
HOST: Final = "127.0.0.1"
# the event loop and HTTP parser `python -m serving` and the image use (uvicorn's "auto" picks)
ECHO_SERVER: Final = ("--loop", "uvloop", "--http", "httptools", "--no-access-log")
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


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """Runs a server until the block ends; yields its pid once ``ready_url`` answers 200."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(ready_url):
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read() if process.stderr else ""
                raise SystemExit(f"error: {' '.join(command)} did not start:\n{stderr[-2000:]}")
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (uvicorn's worker processes)."""
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


def targets(args: argparse.Namespace) -> tuple[str, ...]:
    return (*TARGETS, "shadow") if args.shadow_dir is not None else TARGETS


def measure(args: argparse.Namespace, bodies: Path) -> tuple[list[Sample], dict[str, Any]]:
    """Starts the servers and runs every (repetition, concurrency, target) once."""
    env = {**os.environ, "WEB_CONCURRENCY": str(args.workers)}
    if args.model_dir is not None:
        env["FEEDRANK_MODEL_DIR"] = str(args.model_dir)
    ports = {name: free_port() for name in ("rank", "echo", "shadow")}
    urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    service = [sys.executable, "-m", "serving", "--host", HOST, "--no-access-log", "--port"]
    commands = {name: [*service, str(ports[name])] for name in ("rank", "shadow")}
    commands["echo"] = [sys.executable, "-m", "uvicorn", "benchmarks.echo_floor:app", "--host"]
    commands["echo"] += [HOST, "--port", str(ports["echo"]), *ECHO_SERVER]
    shadow_env = {
        **env,
        CHALLENGER_DIR_ENV: str(args.shadow_dir),
        MODE_ENV: "shadow",
        SHARE_ENV: f"{args.shadow_share:g}",
    }
    servers = {"rank": (env, "/ready"), "echo": (env, "/health")}
    if args.shadow_dir is not None:
        servers["shadow"] = (shadow_env, "/ready")
    samples: list[Sample] = []
    with contextlib.ExitStack() as stack:
        pids = {
            name: stack.enter_context(server(commands[name], environ, urls[name] + ready))
            for name, (environ, ready) in servers.items()
        }
        with urllib.request.urlopen(f"{urls['rank']}/model", timeout=5) as response:
            model = json.load(response)
        pids["health"] = pids["rank"]
        paths = {name: f"{urls[name]}/rank" for name in servers}
        paths["health"] = f"{urls['rank']}/health"
        order = targets(args)
        for target in order:  # warm-up: imports, caches, allocator, CPU frequency
            run_wrk(paths[target], 8, 1, None if target == "health" else bodies)
        for repetition in range(args.repeats):
            for concurrency in args.concurrency:
                turn = repetition % len(order)
                for target in order[turn:] + order[:turn]:
                    before = cpu_seconds(pids[target])
                    result = run_wrk(
                        paths[target],
                        concurrency,
                        args.seconds,
                        None if target == "health" else bodies,
                    )
                    used = cpu_seconds(pids[target]) - before
                    per_request = used * 1e3 / result.requests if result.requests else None
                    samples.append(Sample(target, concurrency, repetition, result, per_request))
    return samples, model


def summarise(samples: list[Sample], concurrency: int) -> dict[str, Any]:
    """Medians over repetitions for one concurrency, and /rank ÷ echo from those medians."""
    row: dict[str, Any] = {"concurrency": concurrency}
    for target in dict.fromkeys(sample.target for sample in samples):
        runs = [s for s in samples if s.concurrency == concurrency and s.target == target]
        cpu = [s.cpu_ms_per_request for s in runs if s.cpu_ms_per_request is not None]
        row[target] = {
            "rps": statistics.median(s.wrk.throughput_rps for s in runs),
            "p50_ms": statistics.median(s.wrk.p50_ms for s in runs),
            "p99_ms": statistics.median(s.wrk.p99_ms for s in runs),
            "cpu_ms_per_request": statistics.median(cpu) if cpu else None,
            "errors": sum(s.wrk.errors for s in runs),
            "runs_rps": [round(s.wrk.throughput_rps) for s in runs],
        }
    row["rank_over_echo"] = row["rank"]["rps"] / row["echo"]["rps"]
    per_repetition = {
        s.repetition: s.wrk.throughput_rps
        for s in samples
        if s.concurrency == concurrency and s.target == "echo"
    }
    ratios = [
        s.wrk.throughput_rps / per_repetition[s.repetition]
        for s in samples
        if s.concurrency == concurrency and s.target == "rank"
    ]
    row["rank_over_echo_range"] = [min(ratios), max(ratios)]
    return row


def render(report: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any]) -> str:
        return f"{entry['rps']:,.0f} (p50 {entry['p50_ms'] * 1e3:,.0f} µs)"

    def cpu_ratio(row: dict[str, Any]) -> str:
        echo, rank = row["echo"]["cpu_ms_per_request"], row["rank"]["cpu_ms_per_request"]
        return "-" if echo is None or not rank else f"{echo / rank:.2f}"

    def cpu(entry: dict[str, Any]) -> str:
        value = entry["cpu_ms_per_request"]
        return "-" if value is None else f"{value * 1e3:,.0f} µs"

    lines = [
        f"wrk, {report['seconds']:g} s per run, {report['repeats']} repetitions interleaved, "
        f"{report['workers']} worker(s) per server; {report['slate']}",
        f"model {report['model_version']} ({report['model_family']} on "
        f"{'+'.join(report['feature_groups'])}); medians over repetitions",
        "",
        "| concurrency | `/health` rps | echo floor rps | `/rank` rps | `/rank` ÷ echo "
        "| server CPU per request: echo / `/rank` (ratio) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        low, high = row["rank_over_echo_range"]
        lines.append(
            f"| {row['concurrency']} | {cell(row['health'])} | {cell(row['echo'])} "
            f"| {cell(row['rank'])} | **{row['rank_over_echo']:.2f}** ({low:.2f}-{high:.2f}) "
            f"| {cpu(row['echo'])} / {cpu(row['rank'])} ({cpu_ratio(row)}) |"
        )
    rank_cpu = [r["rank"]["cpu_ms_per_request"] for r in report["rows"]]
    known = [value for value in rank_cpu if value is not None]
    if known:
        lines.append(
            f"\n/rank costs {min(known):.3f}-{max(known):.3f} ms of server CPU per request: "
            f"{min(known):.2f}-{max(known):.2f} cores per 1,000 requests/s."
        )
    if "shadow" in report["rows"][0]:
        lines += shadow_table(report)
    lines.append(f"errors (socket + non-2xx): {errors(report)}")
    return "\n".join(lines)


def shadow_table(report: dict[str, Any]) -> list[str]:
    """/rank against the same service shadow-scoring with a challenger, from the same run."""
    lines = [
        "",
        f"shadow scoring: challenger {report['shadow']['version']} "
        f"({report['shadow']['family']}), share {report['shadow']['share']:g}",
        "",
        "| concurrency | `/rank` rps | `/rank` with shadow rps | shadow ÷ `/rank` "
        "| server CPU per request: `/rank` / shadow (ratio) |",
        "|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        rank, shadow = row["rank"], row["shadow"]
        cpu = "-"
        if rank["cpu_ms_per_request"] and shadow["cpu_ms_per_request"]:
            cpu = (
                f"{rank['cpu_ms_per_request'] * 1e3:,.0f} µs / "
                f"{shadow['cpu_ms_per_request'] * 1e3:,.0f} µs "
                f"({shadow['cpu_ms_per_request'] / rank['cpu_ms_per_request']:.2f})"
            )
        lines.append(
            f"| {row['concurrency']} | {rank['rps']:,.0f} | {shadow['rps']:,.0f} "
            f"| {shadow['rps'] / rank['rps']:.2f} | {cpu} |"
        )
    return lines


def errors(report: dict[str, Any]) -> int:
    return sum(entry["errors"] for row in report["rows"] for entry in _entries(row))


def _entries(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [value for value in row.values() if isinstance(value, dict)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts for the slates")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--posts", type=int, default=20, help="posts per /rank request")
    parser.add_argument("--workers", type=int, default=1, help="processes per server")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--shadow-dir",
        type=Path,
        default=None,
        help="also measure a third server shadow-scoring with this challenger bundle",
    )
    parser.add_argument("--shadow-share", type=float, default=1.0, help="its shadow share")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.seconds < 1 or args.workers < 1 or not 1 <= args.posts <= 20:
        parser.error("--repeats, --seconds and --workers must be >= 1, --posts in 1..20")
    if not 0 < args.shadow_share <= 1:
        parser.error("--shadow-share must be in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="feedrank-perf-") as scratch:
        bodies = write_bodies(
            Path(scratch) / "bodies.jsonl", [slate_body(posts, args.posts, rng) for _ in range(256)]
        )
        try:
            samples, model = measure(args, bodies)
        except WrkError as error:
            sys.stderr.write(f"error: {error}\n")
            return 2
    report = {
        "seconds": args.seconds,
        "repeats": args.repeats,
        "workers": args.workers,
        "posts_per_request": args.posts,
        "slate": f"{args.posts} posts per /rank request; {describe_source(args.data)}",
        "model_version": model["model_version"],
        "model_family": model["family"],
        "feature_groups": model["metadata"].get("feature_groups", model["feature_names"]),
        "rows": [summarise(samples, concurrency) for concurrency in args.concurrency],
        "samples": [asdict(sample) for sample in samples],
    }
    if args.shadow_dir is not None:
        challenger = json.loads((args.shadow_dir / "metadata.json").read_text())
        report["shadow"] = {
            "version": challenger["model_version"],
            "family": challenger["family"],
            "share": args.shadow_share,
        }
    sys.stdout.write(render(report) + "\n")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if errors(report) else 0


if __name__ == "__main__":
    sys.exit(main())
