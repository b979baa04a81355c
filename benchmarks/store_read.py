"""``python -m benchmarks.store_read``: what reading 20 posts through Feast's feature server costs.

For each online store (the pipeline's SQLite file, and a ``redis-server`` started here and
filled from ``data/posts.csv`` by ``python -m features.feature_store``) it runs Feast's feature
server (``feast serve``) and ``python -m serving`` pointed at it, sends sequential ``/rank/ids``
requests of 20 random ids, and reads the ``store`` stage of each response's ``Server-Timing``:
the feature server's round trip as the service times it, free of the client. ``/rank`` with the
same posts gives the rest of the request beside it. The service gets a wide deadline, so a slow
read is measured rather than cut off; the share of reads slower than a deadline is the share of
requests that deadline would answer 503, for ``FEEDRANK_STORE_TIMEOUT``'s default and a few
others beside it.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np

from benchmarks.payloads import DEFAULT_DATA, load_posts
from benchmarks.perf import HOST, Target, free_port, running
from serving.settings import Settings

ROOT: Final = Path(__file__).resolve().parent.parent
SLATE: Final = 20
WARMUP: Final = 50
MEASURE_TIMEOUT_S: Final = 1.0
DEADLINES_MS: Final = (10.0, 25.0, 50.0, 100.0)
SQLITE_CONFIG: Final = Path("feature_repo/feature_store.yaml")
REDIS_CONFIG: Final = Path("feature_repo/feature_store.redis.yaml")
REDIS_ADDRESS: Final = "FEEDRANK_REDIS_ADDRESS"


def stages(response: httpx.Response) -> dict[str, float]:
    """The response's ``Server-Timing`` stages, in milliseconds."""
    if response.status_code != 200:
        raise SystemExit(
            f"error: {response.request.url} answered {response.status_code}: {response.text}"
        )
    parts = (part.partition(";dur=") for part in response.headers["server-timing"].split(", "))
    return {name: float(duration) for name, _, duration in parts}


def measure(url: str, posts: list[dict[str, Any]], requests: int, deadlines: list[float]) -> Any:
    """p50 and p99 (ms) of the store stage of ``/rank/ids`` and the share of reads slower than
    each of ``deadlines`` (ms); p50 and p99 of the other stages' sum on both routes; over
    ``requests`` slates of 20 random posts."""
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
        "slower_than": {
            f"{ms:g}": sum(read > ms for read in store) / len(store) for ms in deadlines
        },
        "other_stages": {route: percentiles(values) for route, values in rest.items()},
    }


def percentiles(values: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99)}


def fill(data: Path, config: Path, env: dict[str, str]) -> None:
    """Registers the posts and materializes them into the store ``config`` names."""
    command = [sys.executable, "-m", "features.feature_store", "--csv", str(data)]
    subprocess.run([*command, "--config", str(config)], cwd=ROOT, env=env, check=True)


@contextlib.contextmanager
def redis_store(data: Path, workdir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A ``redis-server`` on a free port, filled from ``data``: the Feast config and the
    environment that points it there."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("error: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [server, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    env = {**os.environ, REDIS_ADDRESS: f"{HOST}:{port}"}
    try:
        config = workdir / REDIS_CONFIG
        config.parent.mkdir()
        shutil.copyfile(ROOT / REDIS_CONFIG, config)
        fill(data, config, env)
        yield config, env
    finally:
        process.terminate()
        process.wait()


def feature_server(config: Path, env: dict[str, str], port: int) -> Target:
    feast = str(Path(sys.executable).with_name("feast"))
    command = [feast, "-c", str(config.parent), "-f", str(config), "serve"]
    command += ["--host", HOST, "--port", str(port), "--no-access-log", "--max-requests", "0"]
    return Target(command, ROOT, env, "/health")


def service(model_dir: Path, feature_url: str, port: int) -> Target:
    env = {
        **os.environ,
        "FEEDRANK_MODEL_DIR": str(model_dir),
        "FEEDRANK_FEATURE_SERVER": feature_url,
        "FEEDRANK_STORE_TIMEOUT": str(MEASURE_TIMEOUT_S),
    }
    command = [sys.executable, "-m", "serving", "--host", HOST, "--port", str(port)]
    return Target(command, ROOT, env, "/ready")


def through_feature_server(
    args: argparse.Namespace, config: Path, env: dict[str, str], deadlines: list[float]
) -> Any:
    """The figures for one store: its feature server and a service reading from it."""
    feature_port, port = free_port(), free_port()
    feature_url, url = f"http://{HOST}:{feature_port}", f"http://{HOST}:{port}"
    with (
        running(feature_server(config, env, feature_port), feature_url),
        running(service(args.model_dir, feature_url, port), url),
    ):
        return measure(url, load_posts(args.data), args.requests, deadlines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_DATA)
    parser.add_argument("--config", type=Path, default=ROOT / SQLITE_CONFIG, help="SQLite store")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--json", type=Path, default=ROOT / "reports/benchmarks/store_read.json")
    args = parser.parse_args(argv)
    deadline_ms = Settings.model_fields["store_timeout"].default * 1e3
    deadlines = sorted({deadline_ms, *DEADLINES_MS})
    result: dict[str, Any] = {
        "ids_per_request": SLATE,
        "requests": args.requests,
        "deadline_ms": deadline_ms,
        "deadlines_ms": deadlines,
        # the machine's 1-minute load average as the run starts and ends: others' work shares
        # its cores, and the tail of each read with them
        "load_average": [os.getloadavg()[0]],
        "stores": {},
    }
    with tempfile.TemporaryDirectory() as workdir, redis_store(args.data, Path(workdir)) as redis:
        for name, config, env in (("sqlite", args.config, dict(os.environ)), ("redis", *redis)):
            figures = through_feature_server(args, config, env, deadlines)
            result["stores"][name] = figures
            sys.stderr.write(f"{name}: store read {figures['store']}\n")
    result["load_average"].append(os.getloadavg()[0])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
