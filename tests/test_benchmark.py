"""``benchmark.py``'s arguments: each one argparse refuses exits 2 with a usage error and its
reason, before any request (tests/system/test_benchmark_cli.py runs the script against a real
server)."""

from __future__ import annotations

import pytest

import benchmark
from tests.support.server import free_port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--requests", "50"), "error: --requests must be at least 200"),
        (("--concurrency", "0"), "error: --concurrency must be >= 1 and --warmup >= 0"),
        (("--warmup", "-1"), "error: --concurrency must be >= 1 and --warmup >= 0"),
        (("--duration", "0"), "error: --duration and --window must be positive"),
        (("--requests", "many"), "error: argument --requests: invalid int value: 'many'"),
    ],
    ids=["requests-50", "concurrency-0", "warmup-negative", "duration-0", "requests-not-int"],
)
def test_refused_arguments_exit_2_with_a_usage_error(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # a URL nothing answers: were an argument accepted, no server would see traffic
    with pytest.raises(SystemExit) as exited:
        benchmark.main(["--url", f"http://127.0.0.1:{free_port()}", *args])
    captured = capsys.readouterr()
    assert exited.value.code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("usage: ") and message in lines[-1], captured.err
