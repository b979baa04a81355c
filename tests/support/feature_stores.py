"""Feature stores for tests: the project's Feast repository copied to a temp dir and filled from
a sample of the canonical posts, its online store in SQLite or in a ``redis-server`` process
that ``start_redis`` runs (the real server, not a fake; its tests skip when it is absent)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd
import pytest
import redis

from features.feature_store import build
from tests.support import ROOT
from tests.support.server import free_port

SAMPLE_ROWS: Final = 2_000
SQLITE_CONFIG: Final = "feature_store.yaml"
REDIS_CONFIG: Final = "feature_store.redis.yaml"
REDIS_ADDRESS_VARIABLE: Final = "FEEDRANK_REDIS_ADDRESS"
REDIS_SERVER: Final = shutil.which("redis-server")
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
