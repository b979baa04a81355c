"""SERVING.md: its word budget, its high-QPS discussion near the top, no measured figure of its
own, no development history, and no reference to code that does not exist.

Measurements live in reports/performance.md, rendered from committed JSON
(tests/docs/test_performance_doc.py). SERVING.md cites that report; a number with a time, rate,
core or size unit is allowed only when the report prints it, or when it is a default of the
service's own settings (``serving/settings.py``, ``serving/__main__.py``), which the code states.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from serving import __main__ as serving_main
from serving import settings as serving_settings
from tests.support import ROOT
from tests.support.markdown import section, words

SERVING_PATH: Final = ROOT / "SERVING.md"
SERVING: Final = SERVING_PATH.read_text()
PERFORMANCE: Final = (ROOT / "reports" / "performance.md").read_text()
# counted as `wc -w` counts the whole file, tables and code included
MAX_WORDS: Final = 2_800
MIN_SCALING_WORDS: Final = 400
SCALING_HEADING: Final = "Scaling to Reddit-scale QPS"
# the discussion a reviewer reads first: after the introduction and how to run the service
SCALING_POSITION: Final = 2
SCALING_TOPICS: Final = (
    r"batching",
    r"quantization|distillation",
    r"caching",
    r"horizontal scaling",
    r"load balancing",
)

# unit -> (dimension, factor to the dimension's base unit); longer spellings first in the regex
UNITS: Final[dict[str, tuple[str, float]]] = {
    "µs": ("s", 1e-6),
    "us": ("s", 1e-6),
    "ms": ("s", 1e-3),
    "s": ("s", 1.0),
    "sec": ("s", 1.0),
    "second": ("s", 1.0),
    "seconds": ("s", 1.0),
    "min": ("s", 60.0),
    "minute": ("s", 60.0),
    "minutes": ("s", 60.0),
    "h": ("s", 3600.0),
    "hour": ("s", 3600.0),
    "hours": ("s", 3600.0),
    "KiB": ("B", 1024.0),
    "MiB": ("B", 1024.0**2),
    "GiB": ("B", 1024.0**3),
    "KB": ("B", 1e3),
    "MB": ("B", 1e6),
    "GB": ("B", 1e9),
    "core": ("cores", 1.0),
    "cores": ("cores", 1.0),
    "core-seconds": ("cores", 1.0),
}
RATE_UNIT: Final = r"[A-Za-z-]+/s|rps|qps|QPS|(?:requests|calls|loads) (?:per|a) second"
NUMBER: Final = r"\d[\d,]*(?:\.\d+)?"
FIGURE: Final = re.compile(
    rf"(?<![\w.,/-])({NUMBER})(?:\s*(?:\u2013|-|to)\s*({NUMBER}))?\s*(?:k\s+|M\s+)?"
    rf"({RATE_UNIT}|{'|'.join(sorted(map(re.escape, UNITS), key=len, reverse=True))})"
    r"(?![\w/])"
)

HISTORY: Final = re.compile(
    r"\bpreviously\b|(?<!is )(?<!are )(?<!be )\bused to\b|\bbefore/after\b|\bthe previous\b|"
    r"\bthe old\b|\bno longer\b|load average|\baimed\b|\bnot kept in the repo\b|"
    r"\bstands? in the way\b|\bour target\b",
    re.I,
)
PROJECT_PACKAGES: Final = ("serving", "training", "benchmarks", "bundle", "features", "batch")
PROJECT_DIRS: Final = (*PROJECT_PACKAGES, "scripts", "tests", "reports", "notebooks")


def figures(text: str) -> list[tuple[str, str]]:
    """Every (number, unit) the text states, a range giving one pair per end."""
    found = []
    for match in FIGURE.finditer(text):
        low, high, unit = match.groups()
        found += [(number, unit) for number in (low, high) if number]
    return found


def configured_quantities() -> set[tuple[str, float]]:
    """(dimension, value in base units) of every size and duration the service configures:
    ``Settings`` defaults, the settings module's bounds, and any figure its sources state."""
    quantities: set[tuple[str, float]] = set()
    for name, field in serving_settings.Settings.model_fields.items():
        if isinstance(field.default, int | float) and not isinstance(field.default, bool):
            if name.endswith("_bytes"):
                quantities.add(("B", float(field.default)))
            elif name.endswith("_timeout"):
                quantities.add(("s", float(field.default)))
    for module in (serving_settings, serving_main):
        for name, value in vars(module).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                if name.endswith("_BYTES"):
                    quantities.add(("B", float(value)))
                elif name.endswith("_S"):
                    quantities.add(("s", float(value)))
        source = Path(str(module.__file__)).read_text()
        quantities |= {q for q in map(quantity, figures(source)) if q is not None}
    return quantities


def quantity(figure: tuple[str, str]) -> tuple[str, float] | None:
    number, unit = figure
    if unit not in UNITS:
        return None  # a rate is never a configured default
    dimension, factor = UNITS[unit]
    return dimension, float(number.replace(",", "")) * factor


def in_report(number: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)", PERFORMANCE) is not None


def unsourced_figures(text: str) -> list[str]:
    """The figures in ``text`` that neither the performance report nor the settings state."""
    configured = configured_quantities()
    offenders = []
    for figure in figures(text):
        if in_report(figure[0]):
            continue
        measured = quantity(figure)
        if measured is not None and any(
            dimension == measured[0] and abs(value - measured[1]) <= 1e-9 * max(1.0, value)
            for dimension, value in configured
        ):
            continue
        offenders.append(" ".join(figure))
    return offenders


def test_serving_doc_is_within_its_word_budget() -> None:
    assert len(SERVING.split()) <= MAX_WORDS, len(SERVING.split())


def test_high_qps_section_comes_right_after_running_the_service() -> None:
    headings = re.findall(r"^## (.+)$", SERVING, re.M)
    assert SCALING_HEADING in headings[:SCALING_POSITION], headings


def test_high_qps_section_is_long_enough_and_names_every_topic() -> None:
    discussion = section(SERVING, SCALING_HEADING)
    assert words(discussion) >= MIN_SCALING_WORDS, words(discussion)
    missing = [topic for topic in SCALING_TOPICS if not re.search(topic, discussion, re.I)]
    assert not missing, missing


def test_serving_doc_states_no_figure_the_report_or_the_settings_do_not() -> None:
    assert "reports/performance.md" in SERVING
    offenders = unsourced_figures(SERVING)
    assert not offenders, f"measured figures belong in reports/performance.md: {offenders}"


@pytest.mark.parametrize(
    ("sentence", "flagged"),
    [
        ("a 20-post call costs 0.4217 to 0.4739 ms of CPU", ["0.4217 ms", "0.4739 ms"]),
        ("the soak ended at 189.9 MiB after 20,753 requests", ["189.9 MiB"]),
        ("35 k loads/s at peak, 1,280 requests/s a replica", ["35 loads/s", "1,280 requests/s"]),
        ("/health answered 1.14 s after docker run", ["1.14 s"]),
        ("the container measured 0.74\u20130.97 ms of CPU", ["0.74 ms", "0.97 ms"]),
        ("plan for 690 cores", ["690 cores"]),
        ("headers within 10 s, bodies up to 256 KiB, 63 KiB of headers, drain 8 s", []),
        ("a target over 64 KiB gets 414; HAProxy allows at most 60 s", []),
        ("1 to 20 posts, 16 keys, 512 requests in flight", []),
    ],
)  # fmt: skip
def test_the_figure_check_tells_measurements_from_settings(
    sentence: str, flagged: list[str]
) -> None:
    assert unsourced_figures(sentence) == flagged


def test_serving_doc_tells_no_development_history() -> None:
    found = [match.group(0) for match in HISTORY.finditer(SERVING)]
    assert not found, found


def test_every_path_module_and_target_serving_doc_names_exists() -> None:
    """A renamed or removed module, file or make target leaves no stale reference behind."""
    paths = re.findall(rf"`((?:{'|'.join(PROJECT_DIRS)})/[\w./-]*)`", SERVING)
    missing = [path for path in paths if not (ROOT / path.rstrip("/")).exists()]
    modules = re.findall(rf"python -m ((?:{'|'.join(PROJECT_PACKAGES)})[\w.]*)", SERVING)
    for module in modules:
        base = ROOT / module.replace(".", "/")
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            missing.append(f"python -m {module}")
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make ([a-z][\w-]*)", SERVING):
        if not re.search(rf"^{re.escape(target)}:", makefile, re.M):
            missing.append(f"make {target}")
    assert paths and modules, "expected SERVING.md to name code"
    assert not missing, missing
