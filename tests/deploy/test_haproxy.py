"""deploy/haproxy.cfg and its error files: every answer HAProxy writes is the service's
ErrorBody, the body limit is the service's, and HAProxy accepts the file as it ships."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

from benchmarks.stack import HAPROXY_CFG, limits
from serving.errors import ErrorBody
from serving.settings import Settings
from tests.support import ROOT

ERRORS: Final = sorted((ROOT / "deploy" / "errors").glob("*.http"))
CONFIG: Final = HAPROXY_CFG.read_text()


def parse(path: Path) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error file, as HAProxy reads it (LF or CRLF lines)."""
    raw = path.read_bytes()
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode().split("\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("path", ERRORS, ids=lambda path: path.name)
def test_each_error_file_is_the_service_error_body(path: Path) -> None:
    status, headers, body = parse(path)
    assert path.stem == str(status)
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    error = ErrorBody.model_validate(json.loads(body))
    assert (error.status, error.details) == (status, [])
    if status == 503:
        assert headers["Retry-After"] == "1"


def test_the_config_uses_every_error_file_and_no_other() -> None:
    used = re.findall(r"^\s*errorfile (\d+) errors/(\d+)\.http$", CONFIG, re.M)
    assert all(code == name for code, name in used)
    assert sorted(code for code, _ in used) == [path.stem for path in ERRORS]


def test_the_proxy_refuses_bodies_past_the_service_own_limit() -> None:
    limit = Settings().max_body_bytes
    assert limits()["max_body_bytes"] == limit
    assert f"exceeds {limit} bytes" in (ROOT / "deploy" / "errors" / "413.http").read_text()


def test_haproxy_accepts_the_config_with_its_addresses_from_the_environment() -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (Debian's package; CI installs it)")
    addresses = {
        "FEEDRANK_PROXY_BIND": "127.0.0.1:18080",
        "FEEDRANK_PROXY_MONITOR": "127.0.0.1:18081",
        "FEEDRANK_REPLICA_1": "127.0.0.1:18082",
        "FEEDRANK_REPLICA_2": "127.0.0.1:18083",
    }
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY_CFG)],
        env={**os.environ, **addresses},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
