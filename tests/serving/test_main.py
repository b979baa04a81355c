"""``serving/__main__.py``: the uvicorn server it configures takes its options from ``Settings``
and nothing else. A refused start-up is tests/system/test_server.py."""

from __future__ import annotations

from serving.__main__ import server_config
from serving.settings import load_settings


def test_the_server_options_come_from_the_settings() -> None:
    settings = load_settings(port=9123, keep_alive_timeout=7, shutdown_timeout=5)
    config = server_config(settings)
    assert (config.host, config.port) == ("127.0.0.1", 9123)
    assert (config.loop, config.http, config.ws) == ("uvloop", "httptools", "none")
    assert config.timeout_keep_alive == 7
    assert config.timeout_graceful_shutdown == 5
    assert config.access_log is False
    assert config.server_header is False
    assert server_config(settings, access_log=True).access_log is True
