"""Edge-test helpers that only the tests need: a trickling upload and a timer (the probes
themselves are ``benchmarks.edge`` and ``benchmarks.raw_http``, shared with the command)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.raw_http import connect, request_head


def trickle(url: str, stop: threading.Event) -> threading.Thread:
    """An upload that sends one body byte per second until ``stop`` or the server hangs up."""
    head = request_head("POST", "/rank", ["Content-Type: application/json", "Content-Length: 4000"])
    sock = connect(url, head)

    def run() -> None:
        with sock:
            while not stop.wait(1.0):
                try:
                    sock.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    return action(), time.monotonic() - start
