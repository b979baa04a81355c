"""Checks that the running feedrank container is hardened (standard library only).

The last step of ``make docker-smoke`` (``scripts/docker_smoke.sh``), after the API checks,
the benchmark and the soak: ``python scripts/container_hardening.py --container NAME --image
TAG``. The container was started with ``--read-only --cap-drop ALL --security-opt
no-new-privileges`` and no writable mount, so everything that ran before this script (every
/rank call, the benchmark, the soak) ran on a read-only root filesystem. Checks:

1. non-root: the image's ``USER`` and the uid of PID 1 inside the container;
2. read-only root: Docker reports it and even root cannot create a file, ``/tmp`` included;
3. no build tools (compilers, make, uv) and no data: ``/app`` holds the service code and the
   model and nothing else, and there is no ``posts.csv`` anywhere in the image;
4. the serve set only: ``pip list`` shows none of the feature server's, training's or the dev
   set's packages (Feast, pandas, PyArrow, dask, SQLAlchemy, mypy, scikit-learn, ...);
5. a clean start: every line the service logged until /health first answered (``--start-log``,
   saved by ``docker_smoke.sh`` then) is an ``[INFO]`` line of its own logging format
   (``serving.__main__``): no warning, error or traceback;
6. the image's ``HEALTHCHECK`` reports ``healthy``;
7. ``docker stop`` (SIGTERM) ends the server gracefully with exit code 0 within its default
   10 s. This stops the container, so it comes last.

Prints one line per check and the image size; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from scripts.check_report import report

# the service's code and bundle only: no training code (serving never imports it)
APP_CONTENTS: Final = {"bundle", "features", "models", "serving"}
# distributions the serve set must not pull in: the feature server's, training's, the dev set's
NOT_SERVED: Final = (
    "feast", "pandas", "pyarrow", "dask", "sqlalchemy", "mypy", "gunicorn",
    "scikit-learn", "scipy", "lightgbm", "pyspark", "jupyterlab", "pytest", "ruff",
)  # fmt: skip
# serving.__main__'s log format is "[LEVEL] message"
CLEAN_LOG_PREFIX: Final = "[INFO] "
BUILD_TOOLS: Final = ("gcc", "cc", "c++", "g++", "clang", "make", "ld", "as", "uv", "cargo")
HEALTHY_WITHIN_S: Final = 90


@dataclass(frozen=True)
class Target:
    """The running container under test and the image it was started from."""

    container: str
    image: str
    start_log: Path

    def run(self, script: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """``sh -c script`` inside the container."""
        as_user = ["-u", user] if user else []
        return docker("exec", *as_user, self.container, "sh", "-c", script)


def docker(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["docker", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)


def inspect(target: str, kind: str = "container") -> dict[str, Any]:
    loaded: list[dict[str, Any]] = json.loads(docker(kind, "inspect", target, check=True).stdout)
    return loaded[0]


def check_non_root(target: Target) -> tuple[bool, str]:
    user = inspect(target.image, "image")["Config"].get("User", "")
    uid = target.run("awk '/^Uid:/ {print $2}' /proc/1/status").stdout.strip()
    ok = user not in ("", "root", "0") and uid not in ("", "0")
    return ok, f"image USER {user!r}, PID 1 runs as uid {uid}"


def check_read_only(target: Target) -> tuple[bool, str]:
    host_config = inspect(target.container)["HostConfig"]
    read_only = bool(host_config.get("ReadonlyRootfs"))
    mounts = [m.get("Destination") for m in inspect(target.container).get("Mounts", [])]
    tmpfs = host_config.get("Tmpfs") or {}
    probes = {
        path: target.run(f"touch {path}/.probe", user="0").returncode != 0
        for path in ("/", "/app", "/tmp", "/app/models")
    }
    ok = read_only and all(probes.values()) and not mounts and not tmpfs
    return ok, (
        f"ReadonlyRootfs={read_only}, writable mounts {mounts or 'none'}, tmpfs "
        f"{list(tmpfs) or 'none'}, root cannot write to {[p for p, ro in probes.items() if ro]}; "
        f"CapDrop={host_config.get('CapDrop')}, SecurityOpt={host_config.get('SecurityOpt')}"
    )


def check_no_tools_or_data(target: Target) -> tuple[bool, str]:
    found = target.run(
        " ; ".join(f"command -v {tool} || true" for tool in BUILD_TOOLS)
    ).stdout.split()
    app = set(target.run("ls -A /app").stdout.split())
    datasets = target.run(
        "find / -xdev \\( -name posts.csv -o -name '*.ipynb' -o -name evaluation_report.md \\) "
        "-print 2>/dev/null"
    ).stdout.split()
    ok = not found and app == APP_CONTENTS and not datasets
    return ok, (
        f"build tools found: {found or 'none'}; /app = {sorted(app)}; "
        f"data/notebooks/reports found: {datasets or 'none'}"
    )


def check_serve_set(target: Target) -> tuple[bool, str]:
    listed = target.run("python -m pip list --format json --disable-pip-version-check")
    names = {entry["name"].lower() for entry in json.loads(listed.stdout or "[]")}
    unwanted = sorted(names.intersection(NOT_SERVED))
    ok = listed.returncode == 0 and bool(names) and not unwanted
    return ok, f"{len(names)} distributions, of which outside the serve set: {unwanted or 'none'}"


def check_clean_start(target: Target) -> tuple[bool, str]:
    lines = target.start_log.read_text(encoding="utf-8").splitlines()
    unclean = [line for line in lines if not line.startswith(CLEAN_LOG_PREFIX)]
    detail = f"{len(lines)} lines, {len(unclean)} not {CLEAN_LOG_PREFIX.strip()}"
    return bool(lines) and not unclean, detail + "".join(f"\n     | {line}" for line in unclean)


def check_healthcheck(target: Target) -> tuple[bool, str]:
    if not inspect(target.image, "image")["Config"].get("Healthcheck"):
        return False, "the image declares no HEALTHCHECK"
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while True:
        health = inspect(target.container)["State"].get("Health") or {}
        status = health.get("Status")
        if status == "healthy" or time.monotonic() > deadline:
            break
        time.sleep(2)
    runs = health.get("Log") or []
    return status == "healthy", (
        f"Health.Status={status!r} after {len(runs)} probe(s), last exit code "
        f"{runs[-1].get('ExitCode') if runs else '-'}"
    )


def check_graceful_stop(target: Target) -> tuple[bool, str]:
    start = time.monotonic()
    stopped = docker("stop", "--time", "10", target.container)
    took = time.monotonic() - start
    state = inspect(target.container)["State"]
    ok = stopped.returncode == 0 and state.get("ExitCode") == 0 and not state.get("OOMKilled")
    return ok, f"docker stop took {took:.1f} s, exit code {state.get('ExitCode')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--container", required=True, help="name or id of the running container")
    parser.add_argument("--image", required=True, help="the image it runs, e.g. feedrank:smoke")
    parser.add_argument(
        "--start-log", type=Path, required=True, help="its log as it was when /health answered"
    )
    args = parser.parse_args(argv)
    target = Target(args.container, args.image, args.start_log)
    checks: list[tuple[str, Callable[[Target], tuple[bool, str]]]] = [
        ("non-root user", check_non_root),
        ("read-only root filesystem", check_read_only),
        ("no build tools or data", check_no_tools_or_data),
        ("serve set only", check_serve_set),
        ("clean start", check_clean_start),
        ("HEALTHCHECK passes", check_healthcheck),
        ("graceful docker stop", check_graceful_stop),
    ]
    results = [(ok, f"{name}: {detail}") for name, run in checks for ok, detail in [run(target)]]
    size = inspect(target.image, "image").get("Size", 0)
    return report(results, prefix=f"image {target.image}: {size / 1e6:.0f} MB; ")


if __name__ == "__main__":
    sys.exit(main())
