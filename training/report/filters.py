"""Number formatting for the report template: every number goes through one of these filters.

None of them prints NaN, infinity or a negative zero: a non-finite value is an error, so a
broken metric fails the render instead of reaching a reader.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, Final


class FormatError(ValueError):
    """A value the report must not print (NaN, infinity)."""


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise FormatError(f"refusing to print a non-finite number ({number})")
    return number


def num(value: Any, digits: int = 4) -> str:
    """Fixed-point number; a value that rounds to zero loses its minus sign."""
    text = f"{_finite(value):.{digits}f}"
    return text.removeprefix("-") if float(text) == 0 else text


def signed(value: Any, digits: int = 4) -> str:
    """Fixed-point with an explicit sign; a value that rounds to zero gets none."""
    text = f"{_finite(value):+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def pct(value: Any, digits: int = 1) -> str:
    return f"{100 * _finite(value):.{digits}f}%"


def count(value: Any) -> str:
    return f"{round(_finite(value)):,}"


def sig(value: Any, digits: int = 3) -> str:
    """Significant digits, for coefficients whose scales differ by orders of magnitude."""
    return f"{_finite(value):.{digits}g}"


def sci(value: Any, digits: int = 1) -> str:
    return f"{_finite(value):.{digits}e}"


def exp(value: Any) -> float:
    """e to the power ``value``: a log-odds coefficient as an odds multiplier."""
    return math.exp(_finite(value))


def pvalue(value: Any) -> str:
    """p-values: two significant digits, and an honest bound where float underflows to 0."""
    p = _finite(value)
    return "< 1e-300" if p == 0 else f"{p:.2g}"


def interval(metric: Mapping[str, Any], digits: int = 4, sign: bool = False) -> str:
    """``value [low, high]`` for a bootstrap interval dictionary (signed for differences)."""
    fmt = signed if sign else num
    return (
        f"{fmt(metric['value'], digits)} "
        f"[{fmt(metric['low'], digits)}, {fmt(metric['high'], digits)}]"
    )


def first_line(function: Callable[..., Any] | type) -> str:
    """The first paragraph of a docstring: the features' intuition lives next to their code."""
    doc = inspect.getdoc(function) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


FILTERS: Final[Mapping[str, Callable[..., Any]]] = {
    "num": num,
    "signed": signed,
    "pct": pct,
    "count": count,
    "sig": sig,
    "sci": sci,
    "pvalue": pvalue,
    "exp": exp,
    "interval": interval,
}
