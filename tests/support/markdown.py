"""Reading the Markdown documents the docs tests check."""

from __future__ import annotations

import re


def section(markdown: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"section '## {heading}' is missing"
    return match.group(1)


def words(text: str) -> int:
    """Words of prose, tables left out."""
    prose = re.sub(r"^\|.*\|$", "", text, flags=re.M)
    return len(re.findall(r"[A-Za-z0-9][\w'.%/-]*", prose))
