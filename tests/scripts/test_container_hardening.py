"""The clean-start check of ``make docker-smoke``'s hardening step: the service's log up to its
first /health answer holds its own ``[INFO]`` lines only."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.container_hardening import Target, check_clean_start


def _target(tmp_path: Path, log: str) -> Target:
    start_log = tmp_path / "start.log"
    start_log.write_text(log, encoding="utf-8")
    return Target("container", "image", start_log)


def test_a_start_of_info_lines_is_clean(tmp_path: Path) -> None:
    log = "[INFO] Started server process [1]\n[INFO] Application startup complete.\n"
    ok, detail = check_clean_start(_target(tmp_path, log))
    assert ok, detail


@pytest.mark.parametrize(
    "line",
    [
        "[WARNING] feature store unavailable; /rank/ids answers 503",
        "[ERROR] unhandled error on GET /ready",
        "Traceback (most recent call last):",
        "/usr/lib/python3.11/site-packages/x.py:1: DeprecationWarning: old",
    ],
)
def test_anything_but_an_info_line_is_named(tmp_path: Path, line: str) -> None:
    ok, detail = check_clean_start(
        _target(tmp_path, f"[INFO] Started server process [1]\n{line}\n")
    )
    assert not ok
    assert line in detail


def test_an_empty_log_is_not_a_clean_start(tmp_path: Path) -> None:
    ok, _ = check_clean_start(_target(tmp_path, ""))
    assert not ok
