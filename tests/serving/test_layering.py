"""The package layering the serving image relies on: serving needs features and bundle only.

The image copies no ``training/`` code and installs none of the model-fitting libraries, nor
Feast and what it brings (the service reads posts from Feast's own feature server over HTTP), so
the service must import and build its app with all of them unavailable. Checked in a fresh
interpreter whose import system refuses them, which fails on any import of one, however
indirect.

The service also runs on the lean serving requirements (requirements/serve.txt): it loads a
bundle of either family and ranks with it in a fresh interpreter that refuses those packages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmarks.payloads import load_posts
from bundle.scoring import FAMILIES
from features.transform import ALL_GROUPS
from tests.support import ROOT
from tests.support.bundles import save_bundle
from tests.support.posts import table_of

pytestmark = pytest.mark.e2e  # every test runs a fresh interpreter

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


# what requirements/serve.txt leaves out: the service scores with the bundle's NumPy export and
# reads the feature store through Feast's feature server
SERVING_IMAGE_LACKS = (
    "training",
    "sklearn",
    "scipy",
    "lightgbm",
    "joblib",
    "feast",
    "pandas",
    "pyarrow",
    "dask",
    "sqlalchemy",
)


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        # serving.__main__ imports serving.app, and the ranking probe below builds the app
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


BLOCKED = set(SERVING_IMAGE_LACKS)
PROBE = REFUSE_IMPORTS + textwrap.dedent(
    """
    import json
    from pathlib import Path

    from fastapi.testclient import TestClient
    from serving.app import create_app
    from serving.settings import Settings

    scores = {{}}
    for family, model_dir in json.loads({model_dirs!r}).items():
        with TestClient(create_app(Settings(model_dir=Path(model_dir)))) as client:
            response = client.post("/rank", json=json.loads({posts!r}))
        assert response.status_code == 200, response.text
        scores[family] = [item["score"] for item in response.json()["ranked"]]
    print(json.dumps(scores))
    """
)


def test_service_ranks_with_either_family_without_the_training_stack(
    canonical_csv: Path, tmp_path: Path
) -> None:
    """Both families in one lean interpreter: it starts (and imports the service) once."""
    model_dirs = {family: tmp_path / family for family in FAMILIES}
    models = {
        family: save_bundle(canonical_csv, path, family, ALL_GROUPS, rows=2_000, version="lean")
        for family, path in model_dirs.items()
    }
    records = load_posts(canonical_csv)[2_000:2_020]
    probe = PROBE.format(
        blocked=BLOCKED,
        model_dirs=json.dumps({family: str(path) for family, path in model_dirs.items()}),
        posts=json.dumps(records),
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(served) == set(FAMILIES)
    for family, model in models.items():
        expected = model.predict_proba(table_of(records))
        difference = np.sort(served[family]) - np.sort(expected)
        assert np.abs(difference).max() <= 1e-9, family
