"""The one way tests start the service: ``python -m serving`` (the image's command) in a process,
or another command that ends in it (``make serve``, the image's CMD).

``start_server`` launches it on a free 127.0.0.1 port with the given ``FEEDRANK_*`` settings, in
a session of its own (so a signal to its group reaches what it started, as Ctrl-C in a terminal
does), ``Server.started`` waits for ``/ready`` (and stops the process if it never gets there),
and ``Server.terminate`` sends SIGTERM and returns the exit status. ``MakeServe`` is the
``make serve`` command, with the feature server it starts on a port of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.support import ROOT

START_TIMEOUT_S: Final = 60.0
# uvicorn, once it has drained after a SIGTERM, re-raises the signal: the status a clean stop has
STOPPED: Final = -signal.SIGTERM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A ``python -m serving`` process on 127.0.0.1; its output goes to ``log_path``."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Polls ``/ready`` until it answers 200; fails the test if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"server exited early ({self.process.returncode}): {self.log()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {timeout:.0f} s: {self.log()}")
            time.sleep(0.2)

    def started(self) -> Server:
        """This server once ready; stopped if it never gets there (no process left behind)."""
        try:
            self.wait_ready()
        except BaseException:
            self.terminate()
            raise
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status (SIGKILL and a failure if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"server still running {timeout:.0f} s after SIGTERM: {self.log()}")


def serving_command(port: int, *options: str) -> list[str]:
    """``python -m serving`` on ``port`` with this interpreter."""
    return [sys.executable, "-m", "serving", "--port", str(port), *options]


@dataclass(frozen=True)
class MakeServe:
    """``make serve`` on a port, with this interpreter's virtualenv (``-o``: as installed) and its
    feature server on ``feature_port``, reading ``feature_config`` (default: the repository's
    store)."""

    feature_port: int
    feature_config: Path | None = None

    def __call__(self, port: int, *options: str) -> list[str]:
        venv = Path(sys.prefix)
        installed = [f"-o{venv / f'.{name}.sha256'}" for name in ("serve", "feature-server")]
        variables = [f"VENV={venv}", f"PORT={port}", f"FEATURE_PORT={self.feature_port}"]
        if self.feature_config is not None:
            variables.append(f"FEATURE_CONFIG={self.feature_config}")
        return ["make", "-s", *installed, "serve", *variables]


def make_serve(port: int, *options: str) -> list[str]:
    """``make serve`` on ``port``, its feature server on a free port."""
    return MakeServe(free_port())(port, *options)


def start_server(
    model_dir: Path,
    log_dir: Path,
    *options: str,
    command: Callable[[int], list[str]] = serving_command,
    **settings: str,
) -> Server:
    """Starts ``command`` (by default ``python -m serving``, given ``options``) for
    ``model_dir`` on a free port; ``settings`` are ``FEEDRANK_*`` variables without the prefix
    (``body_timeout="2"``) or other variables given in full."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    env = {**os.environ, "FEEDRANK_MODEL_DIR": str(model_dir)}
    for name, value in settings.items():
        env[name if name.isupper() else f"FEEDRANK_{name.upper()}"] = value
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command(port, *options),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)
