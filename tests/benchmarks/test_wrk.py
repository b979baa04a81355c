"""What ``benchmarks.wrk`` hands wrk, and its one-line error when wrk is not installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.wrk import INSTALL_HINT, WrkError, write_bodies, wrk_binary


def test_bodies_are_written_one_a_line_as_bodies_lua_reads_them(tmp_path: Path) -> None:
    bodies = [b'{"posts": []}', b"[1, 2]"]
    path = write_bodies(tmp_path / "bodies.jsonl", bodies)
    assert path.read_bytes().splitlines() == bodies
    with pytest.raises(ValueError, match="must not contain newlines"):
        write_bodies(tmp_path / "broken.jsonl", [b"{\n}"])


def test_a_missing_wrk_is_named_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory with no wrk in it
    with pytest.raises(WrkError, match=f"^{re.escape(INSTALL_HINT)}$"):
        wrk_binary()
