"""What ``benchmarks.wrk`` hands wrk, what statuses.lua counts, and its one-line error when wrk
is not installed."""

from __future__ import annotations

import http.server
import itertools
import re
import shutil
import threading
from pathlib import Path

import pytest

from benchmarks.wrk import (
    INSTALL_HINT,
    STATUSES,
    WrkError,
    run_wrk,
    write_bodies,
    wrk_binary,
)


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


def test_statuses_lua_counts_every_answer_by_status_error_and_retry_after(tmp_path: Path) -> None:
    """statuses.lua against a local server that answers 200, then a 503 with the error body and
    Retry-After, in turn: its summary line holds both kinds, summed over wrk's threads."""
    if shutil.which("wrk") is None:
        pytest.skip(INSTALL_HINT)
    answers = [
        (200, {}, b'{"ok": true}'),
        (503, {"Retry-After": "1"}, b'{"status": 503, "error": "overloaded", "message": "x"}'),
    ]
    turn = itertools.count()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, headers, body = answers[next(turn) % 2]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = run_wrk(url, concurrency=2, seconds=1, threads=2, script=STATUSES)
    finally:
        server.shutdown()
    assert set(result.statuses) == {"200", "503 overloaded retry-after"}
    assert sum(result.statuses.values()) == result.requests
