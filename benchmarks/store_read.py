"""``python -m benchmarks.store_read``: what reading 20 posts from the feature store costs.

Serves ``models/`` with ``python -m serving`` once per online store (the pipeline's SQLite file,
and a ``redis-server`` started here and filled from ``data/posts.csv``), sends sequential
``/rank/ids`` requests of 20 random ids, and reads the ``store`` stage of each response's
``Server-Timing``: the read as the service times it, free of the client. ``/rank`` with the same
posts gives the rest of the request beside it, and Feast's own feature server (``feast serve``)
on the same store, timed by its client, what an out-of-process read would cost. The target is
the README's feature-fetch deadline, which is also ``FEEDRANK_STORE_TIMEOUT``'s default; the
servers here get a wider deadline, so a slow read is measured rather than cut off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np

from benchmarks.payloads import DEFAULT_DATA, load_posts
from benchmarks.perf import HOST, Target, free_port, running
from features.feature_store import DEFAULT_CONFIG, FEATURE_REFS, build
from features.schema import ID_COLUMN
from serving.settings import Settings

ROOT: Final = Path(__file__).resolve().parent.parent
SLATE: Final = 20
WARMUP: Final = 50
MEASURE_TIMEOUT_S: Final = 1.0
REDIS_CONFIG: Final = DEFAULT_CONFIG.with_name("feature_store.redis.yaml")


def stages(response: httpx.Response) -> dict[str, float]:
    """The response's ``Server-Timing`` stages, in milliseconds."""
    if response.status_code != 200:
        raise SystemExit(
            f"error: {response.request.url} answered {response.status_code}: {response.text}"
        )
    parts = (part.partition(";dur=") for part in response.headers["server-timing"].split(", "))
    return {name: float(duration) for name, _, duration in parts}


def measure(url: str, posts: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """p50 and p99 (ms) of the store stage of ``/rank/ids``, and of the other stages' sum on
    both routes, over ``requests`` slates of 20 random posts."""
    rng = random.Random(0)
    store: list[float] = []
    rest: dict[str, list[float]] = {"/rank/ids": [], "/rank": []}
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(WARMUP + requests):
            slate = rng.sample(posts, SLATE)
            by_ids = stages(
                client.post("/rank/ids", json={"post_ids": [p["post_id"] for p in slate]})
            )
            by_posts = stages(client.post("/rank", json={"posts": slate}))
            if index < WARMUP:
                continue
            store.append(by_ids.pop("store"))
            rest["/rank/ids"].append(sum(by_ids.values()))
            rest["/rank"].append(sum(by_posts.values()))

    return {
        "store": percentiles(store),
        "other_stages": {route: percentiles(values) for route, values in rest.items()},
    }


def feature_server(config: Path, posts: list[dict[str, Any]], requests: int) -> dict[str, float]:
    """p50 and p99 (ms) of a 20-id read from Feast's own feature server (``feast serve``) on
    ``config``, timed by its client: the read plus the HTTP hop an out-of-process read adds."""
    port = free_port()
    feast = str(Path(sys.executable).with_name("feast"))
    command = [feast, "-c", str(config.parent), "-f", str(config), "serve", "--port", str(port)]
    target = Target([*command, "--no-access-log"], ROOT, dict(os.environ), "/health")
    url = f"http://{HOST}:{port}"
    rng = random.Random(0)
    seconds: list[float] = []
    with running(target, url), httpx.Client(base_url=url, timeout=30) as client:
        for index in range(WARMUP + requests):
            ids = [post["post_id"] for post in rng.sample(posts, SLATE)]
            body = {"features": list(FEATURE_REFS), "entities": {ID_COLUMN: ids}}
            start = time.perf_counter()
            response = client.post("/get-online-features", json=body)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise SystemExit(f"error: feast serve answered {response.status_code}")
            if index >= WARMUP:
                seconds.append(elapsed * 1e3)
    return percentiles(seconds)


def percentiles(values: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99)}


@contextlib.contextmanager
def redis_store(data: Path, workdir: Path) -> Iterator[tuple[Path, str]]:
    """A ``redis-server`` on a free port, filled from ``data``: its config and address."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("error: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [server, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    address = f"{HOST}:{port}"
    try:
        config = workdir / "feature_repo" / REDIS_CONFIG.name
        config.parent.mkdir()
        shutil.copyfile(ROOT / REDIS_CONFIG, config)
        os.environ["FEEDRANK_REDIS_ADDRESS"] = address
        build(data, config)
        yield config, address
    finally:
        process.terminate()
        process.wait()


def serve(model_dir: Path, config: Path, environment: dict[str, str], port: int) -> Target:
    env = {
        **os.environ,
        **environment,
        "FEEDRANK_MODEL_DIR": str(model_dir),
        "FEEDRANK_FEATURE_STORE": str(config),
        "FEEDRANK_STORE_TIMEOUT": str(MEASURE_TIMEOUT_S),
    }
    command = [sys.executable, "-m", "serving", "--host", HOST, "--port", str(port)]
    return Target(command, ROOT, env, "/ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_DATA)
    parser.add_argument("--config", type=Path, default=ROOT / DEFAULT_CONFIG, help="SQLite store")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/store_read.json")
    args = parser.parse_args(argv)
    posts = load_posts(args.data)
    result: dict[str, Any] = {
        "ids_per_request": SLATE,
        "requests": args.requests,
        "target_p99_ms": Settings.model_fields["store_timeout"].default * 1e3,
        "stores": {},
    }
    with tempfile.TemporaryDirectory() as workdir, redis_store(args.data, Path(workdir)) as redis:
        config, address = redis
        for name, store, variables in (
            ("sqlite", args.config, {}),
            ("redis", config, {"FEEDRANK_REDIS_ADDRESS": address}),
        ):
            port = free_port()
            url = f"http://{HOST}:{port}"
            target = serve(args.model_dir, store, variables, port)
            with running(target, url):
                figures = measure(url, posts, args.requests)
            figures["feature_server"] = feature_server(store, posts, args.requests)
            figures["target_holds"] = figures["store"]["p99_ms"] <= result["target_p99_ms"]
            result["stores"][name] = figures
            sys.stderr.write(f"{name}: store read {figures['store']}\n")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
