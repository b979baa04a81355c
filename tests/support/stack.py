"""The one way tests start the topology: ``make stack`` (deploy/'s supervisord configuration,
HAProxy, two replicas, Feast's feature server, Redis) on free ports, stopped by ``make
stack-down``. ``RunningStack`` is what ``make stack`` printed, plus handles on its parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import Stack, free_stack
from tests.support import ROOT

VENV = Path(sys.executable).parent.parent


def make(target: str, stack: Stack, **settings: str) -> subprocess.CompletedProcess[str]:
    """``make target`` for ``stack`` with this interpreter's virtualenv (never rebuilt here)."""
    command = [
        "make", "-s", f"VENV={VENV}", "-o", f"{VENV}/.dev.sha256", target,
        f"STACK_PORT={stack.port}", f"STACK_DIR={stack.run_dir}",
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class RunningStack:
    """A stack ``make stack`` started, and the JSON line it printed."""

    stack: Stack
    printed: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.printed["url"])

    @property
    def monitor(self) -> str:
        """HAProxy's statistics: /metrics (Prometheus) and /stats."""
        return self.stack.monitor

    def replica(self, number: int) -> str:
        """Replica ``number``'s own URL (1 or 2), past the proxy."""
        return f"http://127.0.0.1:{self.stack.ports()[f'STACK_REPLICA_{number}_PORT']}"

    def supervisor(self) -> Any:
        """supervisord's XML-RPC interface (``supervisorctl``'s)."""
        return self.stack.rpc().supervisor

    def log(self, program: str) -> str:
        return (self.stack.run_dir / f"{program}.log").read_text(errors="replace")

    def stop(self) -> None:
        stopped = make("stack-down", self.stack)
        assert stopped.returncode == 0, stopped.stderr


def start_stack(run_dir: Path, **settings: str) -> RunningStack:
    """``make stack`` on free ports, given ``FEEDRANK_*`` ``settings``; fails the test with
    what it printed if it does not come up."""
    stack = free_stack(run_dir)
    result = make("stack", stack, **settings)
    if result.returncode != 0:
        pytest.fail(f"make stack failed: {result.stdout[-1000:]}{result.stderr[-3000:]}")
    return RunningStack(stack, json.loads(result.stdout.strip().splitlines()[-1]))
