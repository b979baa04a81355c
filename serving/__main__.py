"""``python -m serving``: the service under Granian, with the HTTP edge as server options.

Settings are read once (``serving.settings``), the models are loaded and self-checked once
here so that a bad setting or bundle ends start-up with one line, and then Granian starts the
workers, each of which builds the app from the same ``Settings`` object. ``make serve`` and
the image run this command, so they share its defaults:

- HTTP/1.1 only; a request line and headers over ``max_header_bytes`` are answered 431 (a
  request target over 64 KiB that fits, 414), and headers must arrive within
  ``header_timeout``, which also closes a kept-alive connection left idle that long;
- backpressure a little above ``max_in_flight``, so the app's own 503 answers overload and
  Granian queues only what /health and /metrics need beyond it;
- on SIGTERM, no new connections and ``shutdown_timeout`` seconds for the requests in flight,
  then exit status 0;
- a worker that dies is started again.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any, Final

from granian.constants import HTTPModes, Interfaces, RuntimeModes
from granian.http import HTTP1Settings
from granian.server import MPServer

from bundle.store import ModelLoadError
from serving.app import create_app
from serving.rollout import load_models
from serving.settings import ConfigError, Settings, load_settings

# /health and /metrics stay answerable when /rank has max_in_flight requests in flight
UNLIMITED_RESERVE: Final = 32
LOGGING: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"generic": {"format": "[%(levelname)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "generic"}},
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "feedrank": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def server(settings: Settings, access_log: bool = False) -> MPServer:
    """Granian configured from ``settings``: the edge limits live here and nowhere else."""
    return MPServer(
        "serving.app:create_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        # one single-threaded Rust runtime per worker: the I/O stays on one thread, which
        # Granian recommends when there are few processes
        runtime_mode=RuntimeModes.st,
        http=HTTPModes.http1,
        websockets=False,
        backpressure=settings.max_in_flight + UNLIMITED_RESERVE,
        http1_settings=HTTP1Settings(
            header_read_timeout=round(settings.header_timeout * 1000),
            max_buffer_size=settings.max_header_bytes,
        ),
        workers_kill_timeout=settings.shutdown_timeout,
        respawn_failed_workers=True,
        log_dictconfig=LOGGING,
        log_access=access_log,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve the ranking API; every other setting is a FEEDRANK_* variable "
        "(SERVING.md).",
    )
    parser.add_argument("--host", help="default: $FEEDRANK_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: $FEEDRANK_PORT or 8000")
    parser.add_argument("--workers", type=int, help="default: $FEEDRANK_WORKERS or 1")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if k != "access_log" and v is not None}
    try:
        settings = load_settings(**given)
        load_models(settings)
    except (ConfigError, ModelLoadError) as error:
        sys.exit(f"feedrank cannot start: {error}")
    server(settings, args.access_log).serve(
        target_loader=functools.partial(create_app, settings), wrap_loader=False
    )


if __name__ == "__main__":
    main()
