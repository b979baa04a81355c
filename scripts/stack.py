"""``python -m scripts.stack up|down`` (``make stack``, ``make stack-down``): the topology here.

``up`` starts supervisord with ``deploy/stack.supervisord.conf``, which runs Redis, the fill of
Redis, Feast's feature server, two replicas of the service and HAProxy (``deploy/haproxy.cfg``)
in the background, on the front door's port and the five after it. It waits until the fill has
exited 0, the feature server answers, HAProxy has both replicas up and the front door's /ready
answers 200, then prints one JSON line: the front door's URL, HAProxy's statistics and each
running program's name and PID. A program that cannot start ends it with one line naming the
program and its log, and the stack is stopped. ``down`` stops every program and supervisord.
supervisord's XML-RPC interface (the one ``supervisorctl`` uses) reports the programs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from xmlrpc.client import Fault, ServerProxy

from prometheus_client.parser import text_string_to_metric_families
from supervisor.xmlrpc import SupervisorTransport

ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG: Final = ROOT / "deploy" / "stack.supervisord.conf"
HOST: Final = "127.0.0.1"
# the front door's port first, then these on the ports after it, in this order
PORTS_AFTER: Final = ("MONITOR", "REPLICA_1", "REPLICA_2", "FEATURE", "REDIS")
REPLICAS: Final = ("replica-1", "replica-2")
ONE_SHOT: Final = "materialize"
START_TIMEOUT_S: Final = 180.0
STOP_TIMEOUT_S: Final = 60.0
# supervisord's states of a program that failed while the stack starts: one that exits then (a
# bad setting, a missing model) would only be started again and exit again
GIVEN_UP: Final = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}


class StackError(RuntimeError):
    """The stack did not come up (or down); the message says which part and where its log is."""


@dataclass(frozen=True)
class Stack:
    """Where one stack runs: its front door's port and the directory of its socket and logs."""

    port: int
    run_dir: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def monitor(self) -> str:
        return f"http://{HOST}:{self.port + 1}"

    def ports(self) -> dict[str, int]:
        """``STACK_*_PORT`` -> port, the front door's (``STACK_PORT``) included."""
        found = {"STACK_PORT": self.port}
        for offset, name in enumerate(PORTS_AFTER, start=1):
            found[f"STACK_{name}_PORT"] = self.port + offset
        return found

    def environment(self, bin_dir: Path, settings: Mapping[str, str]) -> dict[str, str]:
        """supervisord's environment: what the config expands, on top of this one and
        ``settings`` (``FEEDRANK_*`` variables for the replicas, say)."""
        stack = {name: str(port) for name, port in self.ports().items()}
        return {
            **os.environ,
            **settings,
            **stack,
            "STACK_BIN": str(bin_dir),
            "STACK_DIR": str(self.run_dir.resolve()),
        }

    def busy_ports(self) -> list[str]:
        """The ports of this layout something already listens on, named."""
        taken = []
        for name, port in self.ports().items():
            with socket.socket() as probe:
                # as the servers bind: a port whose old connections linger in TIME_WAIT is free
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((HOST, port))
                except OSError:
                    taken.append(f"{port} ({name})")
        return taken

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface, over its UNIX socket."""
        socket_url = f"unix://{self.run_dir.resolve() / 'supervisor.sock'}"
        return ServerProxy(f"http://{HOST}", SupervisorTransport(None, None, socket_url))


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def servers_up(monitor: str) -> set[str]:
    """The replicas HAProxy sends traffic to, from its Prometheus exporter."""
    with urllib.request.urlopen(f"{monitor}/metrics", timeout=2.0) as response:
        text = response.read().decode()
    return {
        sample.labels["server"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "haproxy_server_status"
        and sample.labels.get("state") == "UP"
        and sample.value == 1
    }


def programs(stack: Stack) -> dict[str, Mapping[str, Any]]:
    """Each program's supervisord record (``statename``, ``pid``, ``exitstatus`` ...)."""
    return {info["name"]: info for info in stack.rpc().supervisor.getAllProcessInfo()}


def problem(stack: Stack, found: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the stack cannot come up, if a program gave up: which one and where its log is."""
    for name, info in found.items():
        failed_fill = name == ONE_SHOT and info["statename"] == "EXITED" and info["exitstatus"]
        if failed_fill or (name != ONE_SHOT and info["statename"] in GIVEN_UP):
            log = stack.run_dir / f"{name}.log"
            return f"{name} is {info['statename']} (exit status {info['exitstatus']}); see {log}"
    return None


def ready(stack: Stack, found: Mapping[str, Mapping[str, Any]]) -> bool:
    filled = found[ONE_SHOT]["statename"] == "EXITED" and found[ONE_SHOT]["exitstatus"] == 0
    feature_server = f"http://{HOST}:{stack.ports()['STACK_FEATURE_PORT']}/health"
    return (
        filled
        and answers(feature_server)
        and answers(f"{stack.monitor}/stats")
        and servers_up(stack.monitor) >= set(REPLICAS)
        and answers(f"{stack.url}/ready")
    )


def up(
    stack: Stack,
    bin_dir: Path,
    settings: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> dict[str, Any]:
    """Starts the stack and waits for it; its description once ready."""
    taken = stack.busy_ports()
    if taken:
        raise StackError(f"ports in use: {', '.join(taken)}; choose another STACK_PORT")
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(
        [str(bin_dir / "supervisord"), "-c", str(CONFIG)],
        env=stack.environment(bin_dir, settings or {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise StackError(f"supervisord did not start: {started.stderr.strip()[-500:]}")
    with stopped_unless_ready(stack):
        deadline = time.monotonic() + timeout
        while True:
            found = _reachable_programs(stack)
            if found is not None:
                why = problem(stack, found)
                if why is not None:
                    raise StackError(why)
                if ready(stack, found):
                    return describe(stack, found)
            if time.monotonic() > deadline:
                raise StackError(f"not ready after {timeout:.0f} s; the logs: {stack.run_dir}")
            time.sleep(0.5)


def _reachable_programs(stack: Stack) -> dict[str, Mapping[str, Any]] | None:
    """The programs, or None while supervisord's socket is not there yet."""
    try:
        return programs(stack)
    except (OSError, Fault):
        return None


@contextmanager
def stopped_unless_ready(stack: Stack) -> Iterator[None]:
    """Stops the stack if the block fails: no half-started processes are left behind."""
    try:
        yield
    except BaseException:
        down(stack)
        raise


def describe(stack: Stack, found: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    components = [
        {"name": name, "pid": info["pid"]}
        for name, info in found.items()
        if info["statename"] == "RUNNING"
    ]
    supervisord = int(stack.rpc().supervisor.getPID())
    return {
        "url": stack.url,
        "monitor": f"{stack.monitor}/stats",
        "components": [*components, {"name": "supervisord", "pid": supervisord}],
    }


def down(stack: Stack, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stops every program, then supervisord; False if none was running."""
    pid_file = stack.run_dir / "supervisord.pid"
    try:
        pid = int(pid_file.read_text())
        stack.rpc().supervisor.shutdown()
    except (OSError, ValueError, Fault):
        return False
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise StackError(f"supervisord ({pid}) still running {timeout:.0f} s after shutdown")
        time.sleep(0.2)
    return True


def free_stack(run_dir: Path) -> Stack:
    """A stack on free ports: a front door whose five successors are free too."""
    rng = random.Random()
    for _ in range(50):
        stack = Stack(rng.randrange(20_000, 60_000), run_dir)
        if not stack.busy_ports():
            return stack
    raise StackError("found no six free consecutive ports")


@contextmanager
def started(
    run_dir: Path, bin_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """A stack on free ports (``free_stack``), stopped when the block ends."""
    stack = free_stack(run_dir)
    up(stack, bin_dir, settings)
    try:
        yield stack
    finally:
        down(stack)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--port", type=int, default=8080, help="the front door (default 8080)")
    parser.add_argument(
        "--dir", type=Path, default=ROOT / "data" / "stack", help="socket, pid file and logs"
    )
    parser.add_argument(
        "--bin", type=Path, default=Path(sys.executable).parent, help="python, feast, supervisord"
    )
    args = parser.parse_args(argv)
    stack = Stack(args.port, args.dir)
    try:
        if args.action == "up":
            sys.stdout.write(json.dumps(up(stack, args.bin.absolute())) + "\n")
        elif not down(stack):
            sys.stdout.write(f"no stack running from {args.dir}\n")
    except StackError as error:
        sys.exit(f"make stack: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
