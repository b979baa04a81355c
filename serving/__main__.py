"""``python -m serving [uvicorn options]``: ``uvicorn serving.app:app`` that exits 0 on SIGTERM.

uvicorn already shuts down gracefully on SIGTERM: it stops accepting connections, lets the
requests in flight finish (up to ``--timeout-graceful-shutdown``), runs the lifespan shutdown,
and then re-raises the signal so that the handler installed before it started decides how the
process ends. With Python's default handler that is death by signal (exit status 143, or -15
as ``subprocess`` reports it), which supervisors and CI read as a crash. This launcher installs
a handler that exits with status 0 before uvicorn starts, so a clean stop reads as one. A
SIGTERM that arrives before uvicorn is up (during imports) also exits 0, without serving.

Every uvicorn option works as on uvicorn's own command line (``--host``, ``--port``,
``--workers``/``WEB_CONCURRENCY``, ...); the app is always ``serving.app:app``.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Final

import uvicorn

APP: Final = "serving.app:app"


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options = sys.argv[1:] if argv is None else argv
    uvicorn.main.main(args=[APP, *options], prog_name="python -m serving")


if __name__ == "__main__":
    main()
