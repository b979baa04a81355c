"""``python -m benchmarks.in_process``: the ASGI apps' own cost per request, without sockets.

Calls the service (``serving.app``) and the echo floor (``benchmarks.echo_floor``) directly as
ASGI callables with the same 20-post body, so the difference between the two is what the
service's Python code adds per request, free of the HTTP server, the kernel and the load
generator that ``make perf`` also measures. Prints the median over repetitions of the mean
microseconds per request; ``--repeats`` and ``--requests`` set the run length.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Final

from starlette.types import ASGIApp, Message

from serving.payloads import DEFAULT_DATA, describe_source, load_posts, slate_body

WARMUP: Final = 300


async def started(app: ASGIApp) -> asyncio.Task[None]:
    """Runs the app's lifespan startup (the service loads its model there)."""
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


async def per_request_us(app: ASGIApp, body: bytes, requests: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean microseconds of ``requests`` POST /rank calls."""
    lifespan = await started(app)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/rank",
        "raw_path": b"/rank",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    statuses: set[int] = set()

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(WARMUP):
        await app(dict(scope), receive, send)
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        means.append((time.perf_counter() - start) / requests * 1e6)
    lifespan.cancel()
    if statuses != {200}:
        raise SystemExit(f"error: POST /rank answered {sorted(statuses)}, expected only 200")
    return statistics.median(means)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per repetition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts for the slate")
    args = parser.parse_args(argv)
    body = slate_body(load_posts(args.data), 20, random.Random(0))
    from benchmarks.echo_floor import app as echo  # imported here: each builds its own app
    from serving.app import app as service

    results = {
        name: asyncio.run(per_request_us(app, body, args.requests, args.repeats))
        for name, app in (("echo floor", echo), ("service", service))
    }
    sys.stdout.write(
        f"in process, POST /rank with 20 posts ({describe_source(args.data)}); median of "
        f"{args.repeats} x {args.requests} requests\n"
    )
    for name, microseconds in results.items():
        sys.stdout.write(f"  {name:<10} {microseconds:7.1f} µs per request\n")
    difference = results["service"] - results["echo floor"]
    sys.stdout.write(f"  the service adds {difference:.1f} µs per request to the echo floor\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
