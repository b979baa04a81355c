"""The size limits a newcomer can read the code by: outside ``tests/``, no function or method
is longer than 60 lines and no module longer than 400, checked on the syntax tree of every
Python file in the repository."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tests.support import ROOT

MAX_FUNCTION_LINES: Final = 60
MAX_MODULE_LINES: Final = 400


def source_files(root: Path = ROOT) -> list[Path]:
    """Every ``.py`` file under ``root`` but the tests and hidden directories (the virtualenv,
    caches)."""
    return sorted(
        path
        for path in root.rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.relative_to(root).parts[0] != "tests"
    )


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> Iterator[tuple[str, int]]:
    """``(name, lines)`` of each function or method, nested ones included, longer than
    ``limit`` lines from its ``def`` to its last line."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                yield f"{node.name} (line {node.lineno})", lines


def test_no_function_or_module_outside_the_tests_is_over_its_limit() -> None:
    files = source_files()
    assert ROOT / "benchmark.py" in files and not any("tests" in p.parts for p in files)
    offenders = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
            offenders.append(f"{name}: {lines} lines (module limit {MAX_MODULE_LINES})")
        offenders += [
            f"{name}: {function} is {count} lines (limit {MAX_FUNCTION_LINES})"
            for function, count in long_functions(source)
        ]
    assert not offenders, "\n".join(offenders)


def test_long_functions_measures_from_def_to_last_line_nested_ones_included() -> None:
    body = "\n".join(f"    x{index} = {index}" for index in range(60))
    source = f"def sixty_one():\n{body}\n\n\nclass A:\n    async def short(self):\n        pass\n"
    nested = "def outer():\n    def inner():\n" + body.replace("    ", "        ") + "\n"
    assert list(long_functions(source)) == [("sixty_one (line 1)", 61)]
    assert list(long_functions(source, limit=61)) == []
    assert list(long_functions(nested)) == [("outer (line 1)", 62), ("inner (line 2)", 61)]
