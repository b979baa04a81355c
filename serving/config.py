"""Service settings read from the environment once, at start-up.

A frozen dataclass rather than pydantic-settings: a handful of values do not justify another
dependency in the serving image, and a bad value must stop start-up with one clear line.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bundle.store import model_dir_from_env

MAX_BODY_BYTES_ENV: Final = "FEEDRANK_MAX_BODY_BYTES"
# 20 posts with 300-character titles are ~15 KB of JSON; 256 KiB still lets an oversized list of
# ~1,000 posts reach validation (and its 422) while capping what one request can make us parse.
DEFAULT_MAX_BODY_BYTES: Final = 256 * 1024
MAX_POSTS: Final = 20

# The HTTP edge (SERVING.md, "HTTP edge"): what one connection may cost before it is cut off.
MAX_HEADER_BYTES_ENV: Final = "FEEDRANK_MAX_HEADER_BYTES"
HEADER_TIMEOUT_ENV: Final = "FEEDRANK_HEADER_TIMEOUT"
BODY_TIMEOUT_ENV: Final = "FEEDRANK_BODY_TIMEOUT"
MAX_IN_FLIGHT_ENV: Final = "FEEDRANK_MAX_IN_FLIGHT"
MAX_CONNECTIONS_ENV: Final = "FEEDRANK_MAX_CONNECTIONS"
# descriptors the process needs besides client sockets (model files, logs, the listener, ...)
RESERVED_FDS: Final = 64


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _number(environ: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not value >= low:  # also refuses nan
        raise ConfigError(f"{name}={raw!r} must be a number >= {low:g}")
    return value


def _fd_budget() -> int:
    """Client sockets the descriptor limit allows: past it ``accept`` fails for everyone."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft - RESERVED_FDS if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass(frozen=True)
class EdgeSettings:
    """Limits on what a client may hold or send, enforced by ``serving.edge``.

    Attributes:
        max_header_bytes: Largest request line + header block; more is answered 431.
        header_timeout: Seconds a connection may take to send a complete header block, counted
            from its opening (or from the first byte of a later request on it).
        body_timeout: Seconds the whole body may take once the headers are in; then 408.
        max_in_flight: Requests being handled at once; more are answered 503 + Retry-After.
        max_connections: Open client connections; a new one past it evicts the longest-idle.
    """

    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_in_flight: int = 512
    max_connections: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EdgeSettings:
        """Reads the limits, raising ``ConfigError`` naming the variable on a bad value."""
        default = cls()
        connections = int(_number(environ, MAX_CONNECTIONS_ENV, default.max_connections, low=16))
        return cls(
            max_header_bytes=int(
                _number(environ, MAX_HEADER_BYTES_ENV, default.max_header_bytes, low=1024)
            ),
            header_timeout=_number(environ, HEADER_TIMEOUT_ENV, default.header_timeout, 0.1),
            body_timeout=_number(environ, BODY_TIMEOUT_ENV, default.body_timeout, 0.1),
            max_in_flight=int(_number(environ, MAX_IN_FLIGHT_ENV, default.max_in_flight, 1)),
            max_connections=max(16, min(connections, _fd_budget())),
        )


@dataclass(frozen=True)
class Settings:
    """What the service needs to start.

    Attributes:
        model_dir: Directory written by ``python -m training.train`` (``$FEEDRANK_MODEL_DIR``).
        max_body_bytes: Largest request body accepted before answering 413.
        edge: Connection-level limits (timeouts, header size, concurrency).
    """

    model_dir: Path
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    edge: EdgeSettings = field(default_factory=EdgeSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Reads the settings, raising ``ConfigError`` naming the variable on a bad value."""
        raw_limit = environ.get(MAX_BODY_BYTES_ENV, str(DEFAULT_MAX_BODY_BYTES))
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if limit < 1024:
            raise ConfigError(
                f"{MAX_BODY_BYTES_ENV}={raw_limit!r} must be an integer number of bytes >= 1024"
            )
        return cls(
            model_dir=model_dir_from_env(environ),
            max_body_bytes=limit,
            edge=EdgeSettings.from_env(environ),
        )
