"""The service's settings: ``FEEDRANK_*`` variables and ``python -m serving``'s options, read once.

``load_settings`` validates every value when the service starts and turns a bad one into a
``ConfigError`` naming the variable, so start-up ends with one line instead of a traceback. The
``Settings`` object it returns is passed to the server and to the app; nothing reads the
environment again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import Field, HttpUrl, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bundle.store import DEFAULT_MODEL_DIR

ENV_PREFIX: Final = "FEEDRANK_"
MAX_POSTS: Final = 20
_HTTP_URL: Final = TypeAdapter(HttpUrl)

ChallengerMode = Literal["shadow", "ab"]


class ConfigError(ValueError):
    """A setting holds a value the service cannot use; the message names it."""


class Settings(BaseSettings):
    """Everything the service reads at start-up.

    Attributes:
        model_dir: The champion bundle, written by ``python -m training.train``.
        host, port: Where uvicorn listens.
        max_body_bytes: Largest request body; a larger one is answered 413.
        body_timeout: Seconds the body may take once the headers are in; then 408.
        keep_alive_timeout: Seconds an idle kept-alive connection stays open.
        shutdown_timeout: Seconds requests in flight get to finish after SIGTERM.
        challenger_dir, challenger_mode, challenger_share: A second bundle, and how it takes
            traffic: scored in ``shadow`` for a share of requests, or ranking for a share of
            users in ``ab``.
        feature_server: Base URL of Feast's feature server (``feast serve``), where /rank/ids
            reads the posts.
        store_timeout: Seconds a /rank/ids request waits for the feature server; then 503.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, protected_namespaces=())

    model_dir: Path = DEFAULT_MODEL_DIR
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 8000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    body_timeout: Annotated[float, Field(gt=0)] = 10.0
    keep_alive_timeout: Annotated[int, Field(ge=1, le=3600)] = 10
    shutdown_timeout: Annotated[int, Field(ge=1, le=1800)] = 8
    challenger_dir: Path | None = None
    feature_server: str = "http://127.0.0.1:6566"
    # Feast's feature server round trip with its tail, inside the ranking tier's 50 ms deadline
    # (README); reports/performance.md ("Feature store reads") gives the share of reads each
    # deadline would cut off
    store_timeout: Annotated[float, Field(gt=0, le=60)] = 0.025
    challenger_mode: ChallengerMode | None = None
    challenger_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None

    @field_validator("feature_server")
    @classmethod
    def _http_url(cls, url: str) -> str:
        try:
            _HTTP_URL.validate_python(url)
        except ValidationError as error:
            reason = error.errors(include_url=False)[0]["msg"]
            raise ValueError(
                f"must be an http(s) URL such as http://127.0.0.1:6566 ({reason})"
            ) from None
        return url

    @model_validator(mode="after")
    def _challenger_is_complete(self) -> Settings:
        given = (self.challenger_dir, self.challenger_mode, self.challenger_share)
        if any(value is not None for value in given) and any(value is None for value in given):
            raise ValueError(
                f"{ENV_PREFIX}CHALLENGER_DIR, _MODE and _SHARE are set together or not at all"
            )
        if self.challenger_dir is not None and (
            self.challenger_dir.resolve() == self.model_dir.resolve()
        ):
            raise ValueError(f"{ENV_PREFIX}CHALLENGER_DIR is the champion's directory")
        return self


def load_settings(**options: Any) -> Settings:
    """The settings from the environment, with ``options`` (command-line values) on top.

    Raises:
        ConfigError: One line naming the first variable that is wrong and why.
    """
    try:
        return Settings(**options)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        variable = name if name.isupper() else f"{ENV_PREFIX}{name.upper()}" if name else ""
        given = f"={first['input']!r}" if variable and not isinstance(first["input"], dict) else ""
        where = f"{variable}{given}: " if variable else ""
        # a validator's ValueError reads better without pydantic's "Value error, " prefix
        reason = first["ctx"]["error"] if first["type"] == "value_error" else first["msg"]
        raise ConfigError(f"{where}{reason}") from None
