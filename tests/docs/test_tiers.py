"""The test tiers ``make test-fast`` selects, defined once as FAST in the Makefile: the modules it
does not even import must hold no test it would select, or the fast tier would silently lose
tests."""

from __future__ import annotations

import ast
import re

from tests.support import ROOT


def module_marks(source: str) -> set[str]:
    """The marker names of a module's ``pytestmark`` (``pytest.mark.x`` or a list of them)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            marks = node.value.elts if isinstance(node.value, ast.List) else [node.value]
            return {mark.attr for mark in marks if isinstance(mark, ast.Attribute)}
    return set()


def test_modules_test_fast_skips_are_wholly_outside_its_selection() -> None:
    makefile = (ROOT / "Makefile").read_text()
    fast = re.search(r"^FAST := (.+)$", makefile, re.M)
    assert fast, "Makefile defines no FAST selection"
    # a conjunction of negations: one excluded mark on a module deselects every test in it
    assert re.fullmatch(r"not \w+( and not \w+)*", fast.group(1)), fast.group(1)
    excluded = set(re.findall(r"\bnot (\w+)", fast.group(1)))
    skipped = re.findall(r"--ignore=(tests/\S+\.py)", makefile)
    assert skipped, "make test-fast skips no module"
    for path in skipped:
        marks = module_marks((ROOT / path).read_text())
        assert marks & excluded, f"{path} has tests make test-fast selects: pytestmark {marks}"


def test_module_marks_reads_single_and_listed_marks() -> None:
    assert module_marks("import pytest\npytestmark = pytest.mark.spark\n") == {"spark"}
    assert module_marks("pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]\n") == {"e2e", "fuzz"}
    assert module_marks("def test_x() -> None: ...\n") == set()


def test_every_test_module_the_makefile_names_exists() -> None:
    """A moved module would leave ``make edge``/``make fuzz`` running nothing, or ``make
    test-fast`` ignoring a path that no longer exists and importing the module it meant to skip."""
    named = re.findall(r"\btests/\S+?\.py\b", (ROOT / "Makefile").read_text())
    assert named
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert not missing, missing
