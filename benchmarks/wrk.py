"""Running ``wrk`` (a compiled HTTP load generator) and reading its results.

A Python client spends about as long per request as the server does, so its throughput and
latency describe the client; wrk's do not. ``bodies.lua`` replays request bodies from a file
and prints a JSON summary line, which ``run_wrk`` turns into a ``WrkResult``; ``statuses.lua``
(``STATUSES``) does the same and also counts the answers by status and error code. Standard library
only: ``benchmark.py`` and ``python -m benchmarks.perf`` both use it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SCRIPT: Final = Path(__file__).resolve().parent / "bodies.lua"
STATUSES: Final = SCRIPT.with_name("statuses.lua")
_MARKER: Final = "WRK_JSON "
INSTALL_HINT: Final = (
    "wrk is not installed (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)"
)


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run; latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    status_errors: int
    throughput_rps: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    # answers by status (non-200s also by error code and Retry-After): statuses.lua only
    statuses: dict[str, int] = field(default_factory=dict)


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """One body per line, as ``bodies.lua`` reads them (JSON bodies hold no raw newline)."""
    if any(b"\n" in body for body in bodies):
        raise ValueError("request bodies for wrk must not contain newlines")
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkError(INSTALL_HINT)
    return binary


def run_wrk(
    url: str,
    concurrency: int,
    seconds: float,
    bodies: Path | None = None,
    threads: int = 1,
    timeout_s: float = 10.0,
    script: Path = SCRIPT,
) -> WrkResult:
    """``concurrency`` keep-alive connections for ``seconds``: GET ``url``, or POST ``bodies``.

    Raises:
        WrkError: wrk is not installed, exits non-zero, or prints no summary line.
    """
    command = [
        wrk_binary(),
        f"--threads={min(threads, concurrency)}",
        f"--connections={concurrency}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        f"--script={script}",
        url,
    ]
    if bodies is not None:
        command += ["--", str(bodies)]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout_s + 30, check=False
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk exited {completed.returncode}: {completed.stderr.strip()[-500:]}")
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            return _result(json.loads(line[len(_MARKER) :]))
    raise WrkError(f"wrk printed no summary line: {completed.stdout.strip()[-500:]}")


def _result(raw: dict[str, Any]) -> WrkResult:
    seconds = raw["duration_us"] / 1e6
    socket_errors = sum(
        int(raw[key]) for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    status_errors = int(raw["status_errors"])
    requests = int(raw["requests"])
    return WrkResult(
        requests=requests,
        seconds=seconds,
        errors=socket_errors + status_errors,
        status_errors=status_errors,
        throughput_rps=requests / seconds if seconds > 0 else 0.0,
        mean_ms=raw["mean_us"] / 1e3,
        p50_ms=raw["p50_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        statuses=dict(raw.get("statuses", {})),
    )
