"""``python -m benchmarks.stack`` (``make stack-bench``): the topology under load, as JSON.

Starts the stack of ``make stack`` (``scripts.stack``: deploy/'s HAProxy, two replicas, Feast's
feature server, Redis) on free ports, or uses a running one (``--port``/``--dir``), and drives
it with wrk (``statuses.lua`` counts every answer by status and error code):

- cost: one connection straight to a replica; its own mean and p99 per /rank, the measured cost
  that SERVING.md derives HAProxy's limits from;
- light: c=4 at the front door; overload: c=256 at the front door; for each, wrk's latency and
  answers, the replicas' own p99 (their ``feedrank_http_request_duration_seconds`` histogram),
  and HAProxy's longest queue wait of an admitted request (its statistics);
- failover: c=32 while one replica is killed (SIGKILL); supervisord starts it again, and the
  record says when it answered /ready and when HAProxy had it back in rotation;
- store: /rank and /rank/ids together while Redis runs, is stopped, and runs again.

Nothing here gates a figure: ``python -m benchmarks.report`` renders the record into
reports/performance.md, beside the limits in deploy/haproxy.cfg.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.payloads import load_posts
from benchmarks.records import emit
from benchmarks.wrk import STATUSES, WrkResult, run_wrk, write_bodies
from scripts.stack import ROOT, Stack, StackError, started

HAPROXY_CFG: Final = ROOT / "deploy" / "haproxy.cfg"
LATENCY: Final = "feedrank_http_request_duration_seconds"
# the README's p99 target per scoring call, at the replica (README, "Latency budget")
BUDGET_MS: Final = 15.0
INF: Final = float("inf")
POLL_S: Final = 0.05
RECOVERY_TIMEOUT_S: Final = 60.0
REPLICA_PORTS: Final = {"replica-1": "STACK_REPLICA_1_PORT", "replica-2": "STACK_REPLICA_2_PORT"}


# deploy/haproxy.cfg's limits: name -> what sets it (its number, with a unit or without)
LIMITS: Final = {
    "maxconn_per_replica": r"^\s*default-server\b.*\bmaxconn (\d+)",
    "timeout_queue": r"^\s*timeout queue (\d+m?s)",
    "request_timeout": r"^\s*timeout http-request (\d+m?s)",
    "body_timeout": r"^\s*http-request wait-for-body time (\d+m?s)",
    "keep_alive_timeout": r"^\s*timeout http-keep-alive (\d+m?s)",
    "max_body_bytes": r"deny_status 413 if \{ req\.hdr_val\(content-length\) gt (\d+)",
    "bufsize": r"^\s*tune\.bufsize (\d+)",
    "maxrewrite": r"^\s*tune\.maxrewrite (\d+)",
}


def limits(config: Path = HAPROXY_CFG) -> dict[str, float]:
    """The limits deploy/haproxy.cfg sets, times in seconds, plus ``max_head_bytes``: the
    largest request head HAProxy reads (its buffer less the space kept for rewriting)."""
    text = config.read_text()
    found: dict[str, float] = {}
    for name, pattern in LIMITS.items():
        match = re.search(pattern, text, re.M)
        assert match, f"{config} sets no {name}"
        value = match.group(1)
        seconds = value.endswith("s")
        number = float(value.rstrip("ms"))
        found[name] = number / 1e3 if value.endswith("ms") else number if seconds else int(number)
    found["max_head_bytes"] = found["bufsize"] - found["maxrewrite"]
    return found


def concurrency_bound(budget_ms: float, cost: dict[str, Any]) -> int | None:
    """The most requests a one-process replica can hold at once while the last of them still
    finishes within the budget: the last waits for the others' mean cost, then pays its own
    p99, so ``(m - 1) * mean + p99 <= budget``. None without a measured cost."""
    mean, p99 = cost["mean_ms"], cost["p99"]["bucket_ms"]
    if not mean or p99 is None or p99 > budget_ms:
        return None
    return 1 + int((budget_ms - p99) // mean)


def samples(url: str) -> list[Any]:
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def buckets(url: str, route: str = "/rank") -> dict[float, float]:
    """A replica's cumulative latency histogram of ``route``: upper bound (s) -> count."""
    return {
        float(s.labels["le"]): s.value
        for s in samples(url)
        if s.name == f"{LATENCY}_bucket" and s.labels.get("route") == route
    }


def latency_sum(url: str, route: str = "/rank") -> float:
    found = [
        s.value for s in samples(url) if s.name == f"{LATENCY}_sum" and s.labels["route"] == route
    ]
    return found[0] if found else 0.0


def quantile(
    before: list[dict[float, float]], after: list[dict[float, float]], q: float
) -> dict[str, float | None]:
    """The ``q`` quantile of what the replicas recorded between two readings: its bucket's upper
    bound, and Prometheus's ``histogram_quantile`` estimate (linear within the bucket), in ms."""
    bounds = sorted(set().union(*after))
    counts = [
        sum(a.get(b, 0.0) - old.get(b, 0.0) for old, a in zip(before, after, strict=True))
        for b in bounds
    ]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return {"bucket_ms": None, "estimate_ms": None, "requests": 0}
    rank = q * total
    for index, (bound, count) in enumerate(zip(bounds, counts, strict=True)):
        if count >= rank:
            lower = bounds[index - 1] if index else 0.0
            below = counts[index - 1] if index else 0.0
            inside = count - below
            share = (rank - below) / inside if inside else 1.0
            upper = bound if bound != INF else lower
            estimate = lower + (upper - lower) * share
            return {"bucket_ms": bound * 1e3, "estimate_ms": estimate * 1e3, "requests": int(total)}
    raise AssertionError("unreachable: the +Inf bucket holds every request")


def proxy_figures(monitor: str) -> dict[str, Any]:
    """HAProxy's own statistics: the longest queue wait of an admitted request, the replicas in
    rotation, the requests they hold now (``busy``) and the front door's responses by class."""
    found = samples(monitor)

    def one(name: str, **labels: str) -> float:
        return next(
            s.value
            for s in found
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    return {
        "max_queue_ms": one("haproxy_backend_max_queue_time_seconds", proxy="replicas") * 1e3,
        "up": sorted(
            s.labels["server"]
            for s in found
            if s.name == "haproxy_server_status" and s.labels.get("state") == "UP" and s.value == 1
        ),
        "busy": int(sum(s.value for s in found if s.name == "haproxy_server_current_sessions")),
        "responses": {
            s.labels["code"]: int(s.value)
            for s in found
            if s.name == "haproxy_frontend_http_responses_total"
            and s.labels.get("proxy") == "feedrank"
        },
    }


class Target:
    """A running stack: its front door, its statistics, its replicas and the request bodies."""

    def __init__(self, stack: Stack, scratch: Path) -> None:
        self.stack = stack
        ports = stack.ports()
        self.replicas = {
            name: f"http://127.0.0.1:{ports[variable]}" for name, variable in REPLICA_PORTS.items()
        }
        posts = load_posts()
        rng = random.Random(0)
        slates = [rng.sample(posts, 20) for _ in range(256)]
        self.rank_bodies = write_bodies(
            scratch / "rank.jsonl", [json.dumps({"posts": slate}).encode() for slate in slates]
        )
        ids = [{"post_ids": [post["post_id"] for post in slate]} for slate in slates]
        self.ids_bodies = write_bodies(
            scratch / "ids.jsonl", [json.dumps(body).encode() for body in ids]
        )

    def wrk(
        self, concurrency: int, seconds: float, path: str = "/rank", url: str | None = None
    ) -> WrkResult:
        bodies = self.ids_bodies if path == "/rank/ids" else self.rank_bodies
        return run_wrk(
            f"{url or self.stack.url}{path}",
            concurrency,
            seconds,
            bodies,
            threads=1,
            script=STATUSES,
        )

    def histograms(self) -> list[dict[float, float]]:
        return [buckets(url) for url in self.replicas.values()]


def answers(result: WrkResult) -> dict[str, Any]:
    """wrk's side of a run: latency, the answers by kind, socket errors and the shed share."""
    shed = sum(n for key, n in result.statuses.items() if key.startswith("503 overloaded"))
    total = sum(result.statuses.values())
    return {
        "requests": result.requests,
        "throughput_rps": round(result.throughput_rps, 1),
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "statuses": dict(sorted(result.statuses.items())),
        "socket_errors": result.errors - result.status_errors,
        "shed_share": shed / total if total else 0.0,
    }


def cost(target: Target, seconds: float) -> dict[str, Any]:
    """One connection straight to replica-1: its own time per /rank, nothing queued."""
    url = target.replicas["replica-1"]
    before, sum_before = [buckets(url)], latency_sum(url)
    result = target.wrk(1, seconds, url=url)
    after, sum_after = [buckets(url)], latency_sum(url)
    count = after[0].get(INF, 0.0) - before[0].get(INF, 0.0)
    return {
        "concurrency": 1,
        "seconds": result.seconds,
        "requests": int(count),
        "mean_ms": (sum_after - sum_before) / count * 1e3 if count else None,
        "p50": quantile(before, after, 0.50),
        "p99": quantile(before, after, 0.99),
    }


def load(target: Target, concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` connections at the front door: wrk's view, the replicas' and HAProxy's."""
    before = target.histograms()
    result = target.wrk(concurrency, seconds)
    after = target.histograms()
    return {
        "concurrency": concurrency,
        "seconds": result.seconds,
        "wrk": answers(result),
        "replicas_p99": quantile(before, after, 0.99),
        "replicas_p50": quantile(before, after, 0.50),
        "proxy": proxy_figures(target.stack.monitor),
    }


def in_background(action: Callable[[], WrkResult]) -> Callable[[], WrkResult]:
    """Starts ``action`` in a thread; the returned function waits for its result."""
    results: list[WrkResult] = []
    thread = threading.Thread(target=lambda: results.append(action()), daemon=True)
    thread.start()

    def result() -> WrkResult:
        thread.join()
        return results[0]

    return result


def wait_for(check: Callable[[], bool], timeout: float = RECOVERY_TIMEOUT_S) -> float | None:
    """Seconds until ``check`` holds, polled every ``POLL_S``; None if it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(POLL_S)
    return None


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def failover(target: Target, seconds: float, concurrency: int = 32) -> dict[str, Any]:
    """wrk at ``concurrency`` while replica-1 is killed with SIGKILL a quarter into the run."""
    victim = "replica-1"
    finished = in_background(lambda: target.wrk(concurrency, seconds))
    time.sleep(seconds / 4)
    pid = int(target.stack.rpc().supervisor.getProcessInfo(victim)["pid"])
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    rpc = target.stack.rpc().supervisor
    restarted = wait_for(lambda: rpc.getProcessInfo(victim)["pid"] not in (0, pid))
    answered = wait_for(lambda: ready(target.replicas[victim]))
    answered_at = time.monotonic()
    in_rotation = wait_for(lambda: victim in proxy_figures(target.stack.monitor)["up"])
    result = finished()
    return {
        "concurrency": concurrency,
        "seconds": result.seconds,
        "killed": victim,
        "killed_after_s": seconds / 4,
        "restarted_after_s": restarted,
        "ready_after_s": None if answered is None else answered_at - killed,
        "in_rotation_after_ready_s": in_rotation,
        "wrk": answers(result),
        "proxy": proxy_figures(target.stack.monitor),
    }


def both_routes(target: Target, seconds: float, concurrency: int = 2) -> dict[str, Any]:
    """/rank and /rank/ids at ``concurrency`` each, at the same time."""
    ids = in_background(lambda: target.wrk(concurrency, seconds, "/rank/ids"))
    rank = target.wrk(concurrency, seconds, "/rank")
    return {"/rank": answers(rank), "/rank/ids": answers(ids())}


def store_down(target: Target, seconds: float) -> dict[str, Any]:
    """Both routes with Redis up, stopped (SIGTERM: it writes its snapshot), and started again."""
    rpc = target.stack.rpc().supervisor
    record: dict[str, Any] = {
        "concurrency_per_route": 2,
        "seconds_per_step": seconds,
        "before": both_routes(target, seconds),
    }
    rpc.stopProcess("redis")
    record["stopped"] = both_routes(target, seconds)
    rpc.startProcess("redis")
    started = time.monotonic()
    body = json.loads(target.ids_bodies.read_text().splitlines()[0])

    def ids_answer() -> bool:
        try:
            return (
                httpx.post(f"{target.stack.url}/rank/ids", json=body, timeout=2.0).status_code
                == 200
            )
        except httpx.HTTPError:
            return False

    recovered = wait_for(ids_answer)
    record["recovered_after_start_s"] = None if recovered is None else time.monotonic() - started
    record["restarted"] = both_routes(target, seconds)
    return record


@contextlib.contextmanager
def running(args: argparse.Namespace, scratch: Path) -> Iterator[Stack]:
    """The stack named by ``args``, or one started here on free ports (stopped afterwards)."""
    if args.port is not None:
        yield Stack(args.port, args.dir)
        return
    try:
        with started(scratch / "stack", Path(sys.executable).parent) as stack:
            yield stack
    except StackError as error:
        raise SystemExit(f"error: the stack did not start: {error}") from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch, running(args, Path(scratch)) as stack:
        target = Target(stack, Path(scratch))
        record: dict[str, Any] = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "limits": limits(),
            "cost": cost(target, args.cost_seconds),
            # the README's budget per scoring call, which timeout queue holds in HAProxy
            "budget_ms": BUDGET_MS,
            "light": load(target, 4, args.seconds),
            "overload": load(target, 256, args.seconds),
        }
        record["concurrency_bound"] = concurrency_bound(BUDGET_MS, record["cost"])
        record["failover"] = failover(target, args.seconds)
        record["store"] = store_down(target, args.seconds / 4)
        return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stack", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="each load phase (default 20)")
    parser.add_argument("--cost-seconds", type=float, default=5.0, help="the cost phase")
    parser.add_argument("--port", type=int, default=None, help="a running stack's front door")
    parser.add_argument("--dir", type=Path, default=ROOT / "data" / "stack", help="its run dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the record here")
    args = parser.parse_args(argv)
    record = run(args)
    emit(record, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
