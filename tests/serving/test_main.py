"""``serving/__main__.py``: the Granian server it builds carries the HTTP edge from ``Settings``,
and nothing else sets it. The edge's behaviour against a running server is
tests/system/test_edge.py; a refused start-up is tests/system/test_server.py."""

from __future__ import annotations

from granian.constants import HTTPModes, Interfaces, RuntimeModes

from serving.__main__ import UNLIMITED_RESERVE, server
from serving.settings import load_settings


def test_the_server_options_come_from_the_settings() -> None:
    settings = load_settings(
        max_in_flight=7, header_timeout=3.5, max_header_bytes=16_384, shutdown_timeout=5
    )
    built = server(settings)
    assert built.backpressure == 7 + UNLIMITED_RESERVE
    assert built.http1_settings is not None
    assert built.http1_settings.header_read_timeout == 3_500
    assert built.http1_settings.max_buffer_size == 16_384
    assert built.workers_kill_timeout == 5
    assert (built.interface, built.http, built.runtime_mode) == (
        Interfaces.ASGI,
        HTTPModes.http1,
        RuntimeModes.st,
    )
    assert built.websockets is False
    assert built.respawn_failed_workers is True
    assert built.log_access is False
    assert server(settings, access_log=True).log_access is True
