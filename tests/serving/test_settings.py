"""The service's settings (``serving.settings``): read once from the environment, and a bad
combination of challenger variables or a feature server that is not an http(s) URL refused with
one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import ConfigError, load_settings

DIR, MODE, SHARE = (
    "FEEDRANK_CHALLENGER_DIR",
    "FEEDRANK_CHALLENGER_MODE",
    "FEEDRANK_CHALLENGER_SHARE",
)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({MODE: "shadow"}, "set together or not at all"),
        ({SHARE: "0.5"}, "set together or not at all"),
        ({DIR: "/c"}, "set together or not at all"),
        ({DIR: "/c", MODE: "canary", SHARE: "1"}, "FEEDRANK_CHALLENGER_MODE='canary'"),
        ({DIR: "/c", MODE: "ab", SHARE: "1.5"}, "FEEDRANK_CHALLENGER_SHARE='1.5'"),
        ({DIR: "/c", MODE: "ab", SHARE: "half"}, "FEEDRANK_CHALLENGER_SHARE='half'"),
        ({DIR: "/m", MODE: "ab", SHARE: "1"}, "is the champion's"),
    ],
)
def test_bad_combinations_are_refused(
    environ: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in {**environ, "FEEDRANK_MODEL_DIR": "/m"}.items():
        monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as error:
        load_settings()
    assert "\n" not in str(error.value)


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().challenger_dir is None
    for name, text in {DIR: "/c", MODE: "ab", SHARE: "0.25", "FEEDRANK_MODEL_DIR": "/m"}.items():
        monkeypatch.setenv(name, text)
    settings = load_settings()
    assert (settings.challenger_dir, settings.challenger_mode, settings.challenger_share) == (
        Path("/c"),
        "ab",
        0.25,
    )


@pytest.mark.parametrize(
    "url", ["127.0.0.1:6566", "ftp://127.0.0.1:6566", "http://", "http://host:port", "redis://h"]
)
def test_a_feature_server_that_is_no_http_url_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDRANK_FEATURE_SERVER", url)
    with pytest.raises(ConfigError, match=r"^FEEDRANK_FEATURE_SERVER=.*: must be an http\(s\) URL"):
        load_settings()


@pytest.mark.parametrize("url", ["http://127.0.0.1:6566", "https://features.internal/feast"])
def test_the_feature_server_is_read_as_given(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().feature_server == "http://127.0.0.1:6566"
    monkeypatch.setenv("FEEDRANK_FEATURE_SERVER", url)
    assert load_settings().feature_server == url
