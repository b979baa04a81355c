"""``python -m serving [uvicorn options]``: ``uvicorn serving.app:app`` with safe defaults, exiting
0 on SIGTERM.

uvicorn already shuts down gracefully on SIGTERM: it stops accepting connections, lets the
requests in flight finish (up to ``--timeout-graceful-shutdown``), runs the lifespan shutdown,
and then re-raises the signal so that the handler installed before it started decides how the
process ends. With Python's default handler that is death by signal (exit status 143, or -15
as ``subprocess`` reports it), which supervisors and CI read as a crash. This launcher installs
a handler that exits with status 0 before uvicorn starts, so a clean stop reads as one. A
SIGTERM that arrives before uvicorn is up (during imports) also exits 0, without serving.

The edge settings are this command's defaults, so ``make serve``, the image and a user's own
command behave alike: the ``serving.edge`` protocol (header limit, read timeouts, connection
cap), a bounded graceful shutdown and a keep-alive longer than load balancers' idle timeouts.
An option given on the command line wins. ``--limit-concurrency N`` sets the in-flight limit
that ``serving.edge`` enforces with the documented 503 (uvicorn's own counts idle sockets and
answers a bare ``503 text/plain``). Every other uvicorn option works as on uvicorn's command
line (``--host``, ``--port``, ``--workers``/``WEB_CONCURRENCY``, ...); the app is always
``serving.app:app``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import MutableMapping
from types import FrameType
from typing import Final

import uvicorn

from serving.config import MAX_IN_FLIGHT_ENV, ConfigError, EdgeSettings
from serving.edge import PROTOCOL

APP: Final = "serving.app:app"
DEFAULTS: Final = (
    ("--http", PROTOCOL),
    ("--timeout-keep-alive", "75"),
    # in-flight requests get 8 s after SIGTERM, inside `docker stop`'s default 10 s
    ("--timeout-graceful-shutdown", "8"),
)
LIMIT_CONCURRENCY: Final = "--limit-concurrency"


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _given(options: list[str], name: str) -> bool:
    return any(option == name or option.startswith(f"{name}=") for option in options)


def uvicorn_args(options: list[str], environ: MutableMapping[str, str]) -> list[str]:
    """uvicorn's arguments: ``options`` plus the defaults they do not set. Moves
    ``--limit-concurrency`` into ``environ`` for ``serving.edge`` (workers inherit it)."""
    args: list[str] = []
    rest = iter(options)
    for option in rest:
        if option == LIMIT_CONCURRENCY:
            environ[MAX_IN_FLIGHT_ENV] = next(rest, "")
        elif option.startswith(f"{LIMIT_CONCURRENCY}="):
            environ[MAX_IN_FLIGHT_ENV] = option.partition("=")[2]
        else:
            args.append(option)
    for name, value in DEFAULTS:
        if not _given(args, name):
            args += [name, value]
    return [APP, *args]


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    args = uvicorn_args(sys.argv[1:] if argv is None else argv, os.environ)
    try:
        EdgeSettings.from_env()
    except ConfigError as error:
        sys.exit(f"feedrank cannot start: {error}")
    uvicorn.main.main(args=args, prog_name="python -m serving")


if __name__ == "__main__":
    main()
