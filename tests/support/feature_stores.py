"""Feature stores for tests: the project's Feast repository copied to a temp dir and filled from
a sample of the canonical posts, its online store in SQLite or in a ``redis-server`` process
that ``start_redis`` runs (the real server, not a fake; its tests skip when it is absent), and
Feast's own feature server on such a store, the process /rank/ids reads from
(``start_feature_server``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pandas as pd
import pytest
import redis

from features.feature_store import build
from features.schema import FEATURE_REFS, ID_COLUMN
from tests.support import ROOT
from tests.support.server import START_TIMEOUT_S, free_port

SAMPLE_ROWS: Final = 2_000
SQLITE_CONFIG: Final = "feature_store.yaml"
REDIS_CONFIG: Final = "feature_store.redis.yaml"
REDIS_ADDRESS_VARIABLE: Final = "FEEDRANK_REDIS_ADDRESS"
REDIS_SERVER: Final = shutil.which("redis-server")
FEAST: Final = Path(sys.executable).with_name("feast")
needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed (Debian: apt-get install redis-server; CI installs it)",
)


def sample_csv(canonical_csv: Path, path: Path, rows: int = SAMPLE_ROWS) -> Path:
    """``rows`` random rows of the canonical CSV, their text kept as written."""
    frame = pd.read_csv(canonical_csv, dtype=str, keep_default_na=False)
    frame.sample(rows, random_state=0).to_csv(path, index=False)
    return path


def filled_store(csv: Path, workdir: Path, config: str, redis_address: str = "") -> Path:
    """A copy of ``feature_repo/<config>`` in ``workdir``, built from ``csv``; its path."""
    repo = workdir / "feature_repo"
    repo.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "feature_repo" / config, repo / config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REDIS_ADDRESS_VARIABLE, redis_address)
        build(csv, repo / config)
    return repo / config


@dataclass
class Redis:
    """A ``redis-server`` on 127.0.0.1 keeping its data in ``directory`` (``SAVE`` writes it,
    a restart reads it back)."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> Redis:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.directory), "--save", "", "--appendonly", "no"]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"redis-server did not start: {self.log()}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a stalled store)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return (self.directory / "redis.log").read_text(errors="replace")


def start_redis(directory: Path) -> Redis:
    directory.mkdir(parents=True, exist_ok=True)
    return Redis(directory, free_port()).start()


def feature_server_command(config: Path, port: int) -> list[str]:
    """``feast serve`` on ``config``'s repository, as ``make serve`` runs it
    (deploy/serve.supervisord.conf)."""
    command = [str(FEAST), "-c", str(config.parent), "-f", str(config), "serve"]
    options = ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--max-requests", "0"]
    return [*command, *options]


@dataclass
class FeatureServer:
    """Feast's feature server (``feast serve``) on 127.0.0.1, in a session of its own so that its
    gunicorn master and worker take every signal together; its output goes to ``log_path``."""

    config: Path
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self) -> FeatureServer:
        """Starts it and returns once a read has answered (the first read is the slow one)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                feature_server_command(self.config, self.port),
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        body = {"features": list(FEATURE_REFS), "entities": {ID_COLUMN: [0]}}
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"feast serve exited ({self.process.returncode}): {self.log()}")
            try:
                if httpx.post(f"{self.url}/get-online-features", json=body).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"feast serve not answering after {START_TIMEOUT_S:.0f} s: {self.log()}"
                )
            time.sleep(0.2)

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, number)

    def stop(self) -> None:
        """SIGTERM to the whole group (SIGCONT first, in case it is paused), then SIGKILL if it
        hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL to the group: gone at once, as in a crash."""
        assert self.process is not None
        self.signal(signal.SIGKILL)
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing answers (a stalled server)."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)


def start_feature_server(config: Path, log_dir: Path, **env: str) -> FeatureServer:
    """``feast serve`` on ``config`` on a free port, with ``env`` added to its environment."""
    port = free_port()
    return FeatureServer(config, port, log_dir / f"feast-{port}.log", env).start()
