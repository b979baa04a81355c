"""The package layering the serving image relies on: serving needs features and bundle only.

The image copies no ``training/`` code and installs neither pandas nor the model-fitting
libraries, so the service must import and build its app with all of them unavailable. Checked
in a fresh interpreter whose import system refuses them, which fails on any import of one,
however indirect.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# a template's prelude (``str.format`` with ``blocked``): the packages it names cannot be imported
REFUSE_IMPORTS = textwrap.dedent(
    """
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is not available to this package")
            return None

    sys.meta_path.insert(0, Refuse())
    """
)
BLOCKED_IMPORT_PROBE = REFUSE_IMPORTS + "import {module}\n"


# what requirements/serve.txt leaves out: the service scores with the bundle's NumPy export
SERVING_IMAGE_LACKS = ("training", "pandas", "sklearn", "scipy", "lightgbm", "joblib")


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        ("serving.app", SERVING_IMAGE_LACKS),
        ("serving.__main__", SERVING_IMAGE_LACKS),
        ("bundle.store", ("training", "serving", "pandas")),
        ("features.transform", ("training", "serving", "bundle", "pandas", "sklearn", "scipy")),
        ("features.fit", ("training", "serving", "bundle", "pandas")),
    ],
)
def test_module_imports_without_the_layers_above_it(module: str, blocked: tuple[str, ...]) -> None:
    probe = BLOCKED_IMPORT_PROBE.format(module=module, blocked=set(blocked))
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_blocked_import_probe_catches_a_forbidden_import() -> None:
    """The probe itself can fail: ``training.train`` imports pandas."""
    probe = BLOCKED_IMPORT_PROBE.format(module="training.train", blocked={"pandas"})
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "pandas is not available to this package" in result.stderr
