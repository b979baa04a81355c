"""Fixtures of the batch engine tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def path_without_java(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with every command of this one except ``java``: a machine without Java."""
    commands = tmp_path_factory.mktemp("no-java-bin")
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = commands / entry.name
            if entry.name != "java" and os.access(entry.path, os.X_OK):
                link.unlink(missing_ok=True)  # earlier PATH entries win, as in a shell
                link.symlink_to(entry.path)
    return str(commands)
