"""``python -m serving``: the service under uvicorn (uvloop and httptools).

Settings are read once (``serving.settings``), the models are loaded and self-checked once
here so that a bad setting or bundle ends start-up with one line, and then uvicorn serves the
app built from those settings. ``make serve`` and the image run this command, so they share its
defaults. The HTTP edge (header size and read time, slow clients, connection caps, shedding by
queue wait) is the edge proxy's job (``deploy/``); uvicorn keeps the idle keep-alive and, on
SIGTERM, stops accepting and gives requests in flight ``shutdown_timeout`` seconds.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import uvicorn

from bundle.store import ModelLoadError
from serving.app import create_app
from serving.rollout import load_models
from serving.settings import ConfigError, Settings, load_settings

LOGGING: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"generic": {"format": "[%(levelname)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "generic"}},
    "loggers": {
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "feedrank": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def server_config(settings: Settings, access_log: bool = False) -> uvicorn.Config:
    """uvicorn configured from ``settings``; one process per replica (scale with replicas)."""
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        log_config=LOGGING,
        access_log=access_log,
        server_header=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve the ranking API; every other setting is a FEEDRANK_* variable "
        "(SERVING.md).",
    )
    parser.add_argument("--host", help="default: $FEEDRANK_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: $FEEDRANK_PORT or 8000")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if k != "access_log" and v is not None}
    try:
        settings = load_settings(**given)
        load_models(settings)
    except (ConfigError, ModelLoadError) as error:
        sys.exit(f"feedrank cannot start: {error}")
    uvicorn.Server(server_config(settings, args.access_log)).run()


if __name__ == "__main__":
    main()
