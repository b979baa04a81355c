"""``scripts.stack``: the port layout of a stack, and how a program that gave up is named."""

from __future__ import annotations

import socket
from pathlib import Path

from scripts.stack import Stack, problem


def test_the_front_door_comes_first_and_the_five_ports_after_it(tmp_path: Path) -> None:
    stack = Stack(20_000, tmp_path)
    assert stack.ports() == {
        "STACK_PORT": 20_000,
        "STACK_MONITOR_PORT": 20_001,
        "STACK_REPLICA_1_PORT": 20_002,
        "STACK_REPLICA_2_PORT": 20_003,
        "STACK_FEATURE_PORT": 20_004,
        "STACK_REDIS_PORT": 20_005,
    }
    assert (stack.url, stack.monitor) == ("http://127.0.0.1:20000", "http://127.0.0.1:20001")


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert f"{port} (STACK_PORT)" in Stack(port, tmp_path).busy_ports()


def test_a_program_that_gave_up_is_named_with_its_log(tmp_path: Path) -> None:
    stack = Stack(20_000, tmp_path)
    running = {"statename": "RUNNING", "exitstatus": 0}
    assert problem(stack, {"redis": running, "materialize": running}) is None
    filled = {"statename": "EXITED", "exitstatus": 0}
    assert problem(stack, {"redis": running, "materialize": filled}) is None
    fatal = {"statename": "FATAL", "exitstatus": 1}
    found = problem(stack, {"replica-1": fatal, "materialize": filled})
    assert found == f"replica-1 is FATAL (exit status 1); see {tmp_path / 'replica-1.log'}"
    failed_fill = {"statename": "EXITED", "exitstatus": 2}
    assert "materialize is EXITED (exit status 2)" in str(
        problem(stack, {"materialize": failed_fill})
    )
