"""Service settings read from the environment once, at start-up.

A frozen dataclass rather than pydantic-settings: three values do not justify another
dependency in the serving image, and a bad value must stop start-up with one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bundle.store import model_dir_from_env

MAX_BODY_BYTES_ENV: Final = "FEEDRANK_MAX_BODY_BYTES"
# 20 posts with 300-character titles are ~15 KB of JSON; 256 KiB still lets an oversized list of
# ~1,000 posts reach validation (and its 422) while capping what one request can make us parse.
DEFAULT_MAX_BODY_BYTES: Final = 256 * 1024
MAX_POSTS: Final = 20


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """What the service needs to start.

    Attributes:
        model_dir: Directory written by ``python -m training.train`` (``$FEEDRANK_MODEL_DIR``).
        max_body_bytes: Largest request body accepted before answering 413.
    """

    model_dir: Path
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

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
        return cls(model_dir=model_dir_from_env(environ), max_body_bytes=limit)
