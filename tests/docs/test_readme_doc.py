"""README.md's word budgets: a reviewer reads it in minutes, and ``## Scale`` is long enough to
answer the assignment's questions but no longer. Words are counted as tests/test_docs.py
counts them (tables are not prose)."""

from __future__ import annotations

from typing import Final

from tests.support import ROOT
from tests.support.markdown import section, words

README = (ROOT / "README.md").read_text()

MAX_OUTSIDE_SCALE: Final = 2_500
SCALE_WORDS: Final = range(600, 1_201)


def without_scale(markdown: str) -> str:
    return markdown.replace(section(markdown, "Scale"), "")


def test_readme_outside_scale_is_within_budget() -> None:
    assert words(without_scale(README)) <= MAX_OUTSIDE_SCALE


def test_scale_section_is_within_budget() -> None:
    assert words(section(README, "Scale")) in SCALE_WORDS


def test_the_budget_counts_the_scale_section_out_once() -> None:
    """The two budgets split the README: removing Scale leaves every other section."""
    rest = without_scale(README)
    assert "## Scale" in rest and "## Quick start" in rest and "## Repository conventions" in rest
    assert words(rest) + words(section(README, "Scale")) == words(README)


def test_readme_states_the_exposure_the_ab_table_assumes() -> None:
    """The users-per-arm table depends on the assumed impressions per user and their
    intra-user correlation; the README states the ones ``training.experiment_design`` uses."""
    from training.experiment_design import EXPOSURE

    stated = (
        f"assuming {EXPOSURE.mean:g} impressions per user during the test (standard deviation "
        f"{EXPOSURE.sd:g}) and an intra-user correlation of {EXPOSURE.icc:g}"
    )
    assert stated in " ".join(section(README, "Scale").split())
