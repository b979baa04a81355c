"""Runs the image with a challenger bundle mounted, in shadow mode and then in ab mode.

Step 5 of ``make docker-smoke``:
``python scripts/container_rollout.py --image IMAGE --challenger-dir DIR``, where ``DIR`` holds a
bundle written by ``python -m training.train --family lightgbm --groups raw --model-dir DIR``.
Each mode gets its own container, hardened as in production (read-only, no capabilities, the
bundle mounted read-only), and these checks:

- shadow, share 1: every response is the champion's; the challenger scored every request after
  its response (``feedrank_shadow_requests_total``) and never failed.
- ab, share 0.5: each user's arm is what ``serving.rollout.in_treatment`` computes on the host
  (so the split is the same salted hash inside and outside the image), a repeated user gets the
  same model, and ``/metrics`` counts each version's requests exactly.

Prints each check and exits 1 if any failed; containers are removed on every exit path.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.payloads import load_posts, slate_body
from serving.rollout import in_treatment

CHALLENGER_DIR_ENV, MODE_ENV = "FEEDRANK_CHALLENGER_DIR", "FEEDRANK_CHALLENGER_MODE"
SHARE_ENV = "FEEDRANK_CHALLENGER_SHARE"

MOUNT: Final = "/challenger"
HEALTH_WAIT_S: Final = 120.0
REQUESTS: Final = 200
USERS: Final = 400


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def container(image: str, challenger_dir: Path, mode: str, share: float) -> Iterator[str]:
    """A hardened container serving ``image``'s champion with the challenger; yields its URL."""
    name = f"feedrank-rollout-{mode}-{random.randrange(1 << 30)}"
    subprocess.run(
        [
            *("docker", "run", "-d", "--name", name, "--read-only", "--cap-drop", "ALL"),
            *("--security-opt", "no-new-privileges", "-p", "127.0.0.1::8000"),
            *("-v", f"{challenger_dir.resolve()}:{MOUNT}:ro"),
            *("-e", f"{CHALLENGER_DIR_ENV}={MOUNT}", "-e", f"{MODE_ENV}={mode}"),
            *("-e", f"{SHARE_ENV}={share}", image),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        port = subprocess.run(
            ["docker", "port", name, "8000/tcp"], check=True, capture_output=True, text=True
        ).stdout.split()[0]
        url = f"http://{port}"
        started = time.monotonic()
        while not _healthy(url):
            if time.monotonic() - started > HEALTH_WAIT_S:
                raise SystemExit(f"{name}: /health did not answer within {HEALTH_WAIT_S:g} s")
            time.sleep(0.2)
        say(f"  {mode}: {url} healthy after {time.monotonic() - started:.1f} s")
        yield url
    except BaseException:
        logs = subprocess.run(["docker", "logs", "--tail", "20", name], capture_output=True)
        sys.stderr.write(logs.stdout.decode() + logs.stderr.decode())
        raise
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def rank(url: str, body: bytes, user: str | None = None) -> str:
    """The ``model_version`` that ranked ``body``."""
    headers = {"Content-Type": "application/json", **({"X-User-Id": user} if user else {})}
    request = urllib.request.Request(f"{url}/rank", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        version: str = json.loads(response.read())["model_version"]
    return version


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called ``name`` in the container's /metrics, keyed by its labels."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def expect(self, ok: bool, what: str, seen: Any) -> None:
        say(f"  {'ok  ' if ok else 'FAIL'} {what}: {seen}")
        self.failed += not ok


def shadow(url: str, bodies: list[bytes], challenger: str, checks: Checks) -> None:
    served = Counter(rank(url, body) for body in bodies)
    checks.expect(len(served) == 1, "every response is the champion's", dict(served))
    deadline = time.monotonic() + 10  # shadow scoring runs after each response
    while True:
        shadowed = samples(url, "feedrank_shadow_requests_total").get((("version", challenger),))
        if shadowed == len(bodies) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    checks.expect(shadowed == len(bodies), f"challenger shadow-scored {len(bodies)}", shadowed)
    errors = sum(samples(url, "feedrank_challenger_errors_total").values())
    checks.expect(errors == 0, "challenger errors", errors)


def ab(url: str, bodies: list[bytes], champion: str, challenger: str, checks: Checks) -> None:
    users = [f"user-{index}" for index in range(USERS)]
    served = {user: rank(url, bodies[i % len(bodies)], user) for i, user in enumerate(users)}
    expected = {
        user: challenger if in_treatment(user, challenger, 0.5) else champion for user in users
    }
    wrong = [user for user in users if served[user] != expected[user]]
    checks.expect(not wrong, "each user's arm is the host's salted hash", f"{len(wrong)} differ")
    again = [user for user in users[:50] if rank(url, bodies[0], user) != served[user]]
    checks.expect(not again, "a repeated user gets the same model", f"{len(again)} changed")
    arms = Counter(served.values()) + Counter(served[user] for user in users[:50])
    counted = samples(url, "feedrank_rank_requests_total")
    for version, role in ((champion, "champion"), (challenger, "challenger")):
        value = counted.get((("role", role), ("version", version)), 0.0)
        checks.expect(value == arms[version], f"/metrics {role} requests", value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--challenger-dir", type=Path, required=True)
    args = parser.parse_args()
    challenger = json.loads((args.challenger_dir / "metadata.json").read_text())["model_version"]
    rng = random.Random(0)
    posts = load_posts()
    bodies = [slate_body(posts, 20, rng) for _ in range(REQUESTS)]
    checks = Checks()
    with container(args.image, args.challenger_dir, "shadow", 1.0) as url:
        shadow(url, bodies, challenger, checks)
    with container(args.image, args.challenger_dir, "ab", 0.5) as url:
        with urllib.request.urlopen(f"{url}/model", timeout=10) as response:
            champion = json.loads(response.read())["model_version"]
        ab(url, bodies, champion, challenger, checks)
    say(f"rollout checks: {checks.failed} failed (challenger {challenger})")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
