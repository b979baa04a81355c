"""The test tiers the Makefile defines: ``make test`` (SUITE, without the system tests),
``make test-fast`` (FAST) and ``make test-all`` (every test, what CI runs). Each tier holds the
one below it, and a module a tier does not even import holds no test that tier would select, or
the tier would silently lose tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support import ROOT

SYSTEM_TESTS = "tests/system"
SLOWER_TIERS = {"heavy", "fuzz", "soak", "faults", "spark"}


def makefile_variables(text: str) -> dict[str, str]:
    """The Makefile's ``NAME := value`` lines, earlier variables expanded in later values."""
    variables: dict[str, str] = {}
    for name, value in re.findall(r"^(\w+) := (.*)$", text, re.M):
        variables[name] = re.sub(
            r"\$\((\w+)\)", lambda ref: variables.get(ref.group(1), ref.group(0)), value
        )
    return variables


def excluded_marks(selection: str) -> set[str]:
    """The markers a ``-m`` selection leaves out; it must be a conjunction of negations."""
    assert re.fullmatch(r"not \w+( and not \w+)*", selection), selection
    return set(re.findall(r"\bnot (\w+)", selection))


def ignored_modules(skips: str) -> list[Path]:
    """The test modules an ``--ignore`` list leaves out, a folder standing for its modules."""
    modules = []
    for name in re.findall(r"--ignore=(\S+)", skips):
        path = ROOT / name
        modules += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    return modules


def _marks(decorators: list[ast.expr]) -> set[str]:
    """``pytest.mark.x`` names among decorators or list items (``x(...)`` calls included)."""
    nodes = [node.func if isinstance(node, ast.Call) else node for node in decorators]
    return {node.attr for node in nodes if isinstance(node, ast.Attribute)}


def marks_by_test(source: str) -> dict[str, set[str]]:
    """Each test function's markers: the module's ``pytestmark`` and its own decorators."""
    tree = ast.parse(source)
    module: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            module = _marks(node.value.elts if isinstance(node.value, ast.List) else [node.value])
    return {
        node.name: module | _marks(node.decorator_list)
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def selected_by(module: Path, excluded: set[str]) -> list[str]:
    """The tests of ``module`` that a selection leaving out ``excluded`` would run."""
    marks = marks_by_test(module.read_text())
    return [name for name, own in marks.items() if not own & excluded]


def test_each_tier_holds_the_one_below_it() -> None:
    variables = makefile_variables((ROOT / "Makefile").read_text())
    suite, fast = excluded_marks(variables["SUITE"]), excluded_marks(variables["FAST"])
    assert suite == SLOWER_TIERS
    assert fast == suite | {"e2e"}
    assert set(variables["SUITE_SKIPS"].split()) <= set(variables["FAST_SKIPS"].split())
    # make test leaves tests/system to make test-all: make test-fast may run none of it either
    system = ignored_modules(f"--ignore={SYSTEM_TESTS}")
    assert system and all(not selected_by(module, fast) for module in system)


def test_modules_a_tier_does_not_import_hold_no_test_it_selects() -> None:
    variables = makefile_variables((ROOT / "Makefile").read_text())
    for skips, selection in (("SUITE_SKIPS", "SUITE"), ("FAST_SKIPS", "FAST")):
        excluded = excluded_marks(variables[selection])
        for module in ignored_modules(variables[skips]):
            if module.is_relative_to(ROOT / SYSTEM_TESTS):
                continue  # left out by folder, checked above
            assert module.is_file(), module
            lost = selected_by(module, excluded)
            assert not lost, f"make {skips} skips {module.name}, whose {lost} {selection} selects"


def test_make_test_all_and_ci_run_every_test() -> None:
    recipe = re.search(r"^test-all:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and recipe.group(1) == "$(PY) -m pytest"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test-all" in ci and "make test" not in ci


def test_marks_by_test_reads_module_and_own_marks() -> None:
    source = (
        "import pytest\npytestmark = [pytest.mark.e2e, pytest.mark.fuzz]\n"
        "@pytest.mark.faults\ndef test_a() -> None: ...\n"
        "@pytest.mark.parametrize('x', [1])\ndef test_b(x: int) -> None: ...\n"
        "def helper() -> None: ...\n"
    )
    assert marks_by_test(source) == {
        "test_a": {"e2e", "fuzz", "faults"},
        "test_b": {"e2e", "fuzz", "parametrize"},
    }
    assert marks_by_test("import pytest\npytestmark = pytest.mark.spark\ndef test_c(): ...\n") == {
        "test_c": {"spark"}
    }


def test_every_test_path_the_makefile_names_exists() -> None:
    """A moved module would leave ``make edge``/``make fuzz`` running nothing, or a tier
    ignoring a path that no longer exists and importing the module it meant to skip."""
    named = re.findall(r"\btests/[\w/]+(?:\.py)?\b", (ROOT / "Makefile").read_text())
    assert SYSTEM_TESTS in named
    missing = [path for path in named if not (ROOT / path).exists()]
    assert not missing, missing
