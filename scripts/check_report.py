"""The one way the smoke checks report: a line per check, then the count, as an exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterable


def report(results: Iterable[tuple[bool, str]], prefix: str = "") -> int:
    """Prints ``ok``/``FAIL`` and each check's line, then ``prefix`` and the tally; returns 1
    if any check failed, else 0."""
    results = list(results)
    for ok, line in results:
        sys.stdout.write(f"{'ok ' if ok else 'FAIL'} {line}\n")
    failed = sum(not ok for ok, _ in results)
    sys.stdout.write(f"{prefix}{failed} failed, {len(results) - failed} passed\n")
    return 1 if failed else 0
