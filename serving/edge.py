"""The HTTP edge: what a client may hold or send before the server cuts it off.

uvicorn's httptools protocol parses fast but has no header-size limit and no header or body
read timeout, and its ``--limit-concurrency`` counts idle sockets and answers a bare
``503 text/plain``. Two pieces close those gaps (SERVING.md, "HTTP edge", says why here rather
than in another server or a proxy):

- ``EdgeProtocol`` (``python -m serving`` selects it with ``--http``) is the httptools protocol
  plus a header-block limit (431), a header read timeout (408 if part of a request arrived,
  else a silent close), a body backstop timeout, and a connection cap that evicts the
  longest-idle connection instead of refusing new ones.
- ``serving.gateway`` bounds the requests being handled (503 with the error body and
  ``Retry-After``, counted in /metrics) and ``serving.rank`` gives a request body
  ``body_timeout`` seconds to arrive (408 with the error body).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from http import HTTPStatus
from typing import Any, Final

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from serving.config import EdgeSettings
from serving.errors import ApiError, error_json

logger = logging.getLogger("uvicorn.error")

PROTOCOL: Final = "serving.edge:EdgeProtocol"
# the protocol's body timer fires after the app's own 408 deadline, as a backstop for bodies no
# handler reads (a response already sent while the body still trickles in)
BODY_BACKSTOP_GRACE_S: Final = 1.0


@functools.cache
def edge_settings() -> EdgeSettings:
    """Read once per process; ``python -m serving`` has already refused bad values."""
    return EdgeSettings.from_env()


def check_content_encoding(content_encoding: str | None) -> None:
    """Only an uncompressed body is accepted; a compressed one is refused by name.

    Raises:
        ApiError: 415 naming the encoding that was sent.
    """
    if content_encoding is None:
        return
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(
            415,
            "unsupported_content_encoding",
            f"Content-Encoding {encoding!r} is not supported; send the JSON uncompressed "
            "(a full request is ~15 KB)",
        )


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read limits and timeouts (one instance per socket)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # the gateway answers overload, with the error body
        self.limits = edge_settings()
        self._timer: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0
        self._idle_since: float | None = None

    # connection life --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_since = self.loop.time()
        self._arm(self.limits.header_timeout, self._on_header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _make_room(self) -> None:
        """Closes the longest-idle connection (no request being handled), else this one."""
        idle = [
            peer
            for peer in self.connections
            if isinstance(peer, EdgeProtocol) and peer._idle_since is not None
        ]
        victim = min(idle, key=lambda peer: peer._idle_since or 0.0, default=self)
        logger.warning(
            "%d connections open (limit %d): closing the longest-idle one",
            len(self.connections),
            self.limits.max_connections,
        )
        victim.transport.close()

    # reading ----------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._reading_headers:
            super().data_received(data)
            return
        # feed at most what the header budget allows, so an oversized block never gets buffered
        allowance = self.limits.max_header_bytes - self._header_bytes
        head, rest = data[:allowance], data[allowance:]
        self._header_bytes += len(head)
        if head:
            super().data_received(head)
        if not rest or self.transport.is_closing():
            return
        if self.reading_headers():  # the budget is spent and the block is still incomplete
            self._reject(
                431,
                f"request line and headers exceed {self.limits.max_header_bytes} bytes",
            )
            return
        super().data_received(rest)

    def reading_headers(self) -> bool:
        """Re-read after the parser ran (its callbacks flip it; a bare attribute test would
        be narrowed by mypy to its earlier value)."""
        return self._reading_headers

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        if self._timer is None:  # a later request on a kept-alive connection
            self._arm(self.limits.header_timeout, self._on_header_timeout)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._idle_since = None
        self._arm(self.limits.body_timeout + BODY_BACKSTOP_GRACE_S, self._on_body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._idle_since = self.loop.time()

    # timers -----------------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_header_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._header_bytes == 0:
            self.transport.close()  # an idle socket: nobody is waiting for an answer
            return
        self._reject(
            408,
            f"request headers did not arrive within {self.limits.header_timeout:g} s",
        )

    def _on_body_timeout(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            logger.info("request body still incomplete after the body timeout: closing")
            self.transport.close()

    def _reject(self, status: int, message: str) -> None:
        """Answers before any app runs (the request is incomplete) and closes the connection."""
        phrase = HTTPStatus(status).phrase
        body = error_json(status, phrase.lower().replace(" ", "_"), message)
        head = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        client = "%s:%d" % self.client if self.client else "client"  # noqa: UP031
        logger.info("%s - %d %s", client, status, message)
        self._disarm()
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
