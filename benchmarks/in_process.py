"""``python -m benchmarks.in_process``: the apps' own cost per request, without sockets.

Calls the service (``serving.app``) and the echo floor (``benchmarks.echo_floor``) directly as
ASGI callables on uvloop, the server's loop, with the same 20-post body, so the difference
between the two is what the service's code adds per request, free of the HTTP server, the
kernel and the load generator that ``make perf`` also measures. Time is the process's CPU
time, which another busy process on the machine disturbs far less than the wall clock. The
service's stage costs are the medians of its own ``Server-Timing`` header, i.e. of the one
scoring call that answered; ``step_costs`` times each step of /rank on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import uvloop
from starlette.types import ASGIApp, Message

from benchmarks.echo_floor import create_echo_app
from benchmarks.payloads import DEFAULT_DATA, load_posts, slate_body
from serving.app import create_app
from serving.metrics import STAGES, Metrics, RankOutcome, StageTimings
from serving.rollout import Rollout
from serving.settings import load_settings
from serving.slate import json_value, rank_slate, ranking_json

WARMUP: Final = 300
TIMINGS: Final = StageTimings(0.001, 0.001, 0.001, 0.001)


async def _started(app: ASGIApp) -> asyncio.Task[None]:
    """Runs the app's lifespan startup (the service loads its models there)."""
    messages: asyncio.Queue[Message] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    ready = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise SystemExit(f"error: start-up failed: {message.get('message')}")
        ready.set()

    async def lifespan() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, messages.get, send)

    task = asyncio.create_task(lifespan())
    await ready.wait()
    return task


async def _per_request(
    app: ASGIApp, bodies: list[bytes], requests: int, repeats: int
) -> tuple[float, dict[str, float]]:
    """Median over ``repeats`` of the mean CPU microseconds of ``requests`` POST /rank calls,
    and the median microseconds of each ``Server-Timing`` stage (empty for the echo)."""
    lifespan = await _started(app)
    statuses: set[int] = set()
    stages: dict[str, list[float]] = {}

    async def send(message: Message) -> None:
        if message["type"] != "http.response.start":
            return
        statuses.add(message["status"])
        for name, value in message.get("headers", []):
            if name == b"server-timing":
                for part in value.decode().split(", "):
                    stage, _, duration = part.partition(";dur=")
                    stages.setdefault(stage, []).append(float(duration) * 1e3)

    def scope(body: bytes) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/rank",
            "raw_path": b"/rank",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    async def call(body: bytes) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope(body), receive, send)

    for index in range(WARMUP):
        await call(bodies[index % len(bodies)])
    stages.clear()
    means = []
    for _ in range(repeats):
        start = time.process_time()
        for index in range(requests):
            await call(bodies[index % len(bodies)])
        means.append((time.process_time() - start) / requests * 1e6)
    lifespan.cancel()
    if statuses != {200}:
        raise SystemExit(f"error: POST /rank answered {sorted(statuses)}, expected only 200")
    return statistics.median(means), {k: statistics.median(v) for k, v in stages.items()}


def step_costs(model_dir: Path, bodies: list[bytes], calls: int) -> dict[str, float]:
    """CPU microseconds per call of each step one /rank takes, each timed on its own over the
    same bodies: what chooses the parts of the request path."""
    rollout = Rollout.load(load_settings(model_dir=model_dir), Metrics())
    metrics = rollout.metrics
    slates = [rank_slate(body, None) for body in bodies]
    tables = [slate.table() for slate in slates]
    rankings = [rollout.rank(slate) for slate in slates]
    outcomes = [
        RankOutcome(r.served.version, r.role, r.table, r.scored.probabilities, 0, TIMINGS)
        for r in rankings
    ]
    steps: dict[str, Callable[[int], object]] = {
        "parse (jiter, duplicate keys)": lambda i: json_value(bodies[i]),
        "parse and convert (slate)": lambda i: rank_slate(bodies[i], None),
        "columns": lambda i: slates[i].table(),
        "score (featurise, predict)": lambda i: rollout.champion.model.score(tables[i]),
        "serialise": lambda i: ranking_json(
            "v", slates[i], rankings[i].scored.probabilities.tolist(), rankings[i].unknown, []
        ),
        "request metrics": lambda i: metrics.observe_request("/rank", "POST", 200, 0.001),
        "after the response (metrics, drift)": lambda i: metrics.observe_rank(outcomes[i]),
    }
    costs = {}
    for name, step in steps.items():
        start = time.process_time()
        for call in range(calls):
            step(call % len(bodies))
        costs[name] = (time.process_time() - start) / calls * 1e6
    return costs


def measure(model_dir: Path, data: Path, requests: int, repeats: int) -> dict[str, Any]:
    """The echo floor's and the service's CPU per request, the service's stage medians, and
    the cost of each step on its own."""
    posts = load_posts(data)
    rng = random.Random(0)
    bodies = [slate_body(posts, 20, rng) for _ in range(64)]
    echo_us, _ = uvloop.run(_per_request(create_echo_app(), bodies, requests, repeats))
    service = create_app(load_settings(model_dir=model_dir))
    service_us, stages = uvloop.run(_per_request(service, bodies, requests, repeats))
    return {
        "steps_us": step_costs(model_dir, bodies, requests),
        "requests": requests,
        "repeats": repeats,
        "echo_us": echo_us,
        "service_us": service_us,
        "stages_us": {stage: stages[stage] for stage in STAGES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts for the slates")
    parser.add_argument("--requests", type=int, default=3000, help="per repetition")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    model_dir = args.model_dir or load_settings().model_dir
    sys.stdout.write(json.dumps(measure(model_dir, args.data, args.requests, args.repeats)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
