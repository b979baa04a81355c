"""The service runs on the lean serving requirements: no scikit-learn, SciPy, LightGBM or joblib.

The image installs requirements/serve.txt only; this proves the service needs nothing else to
load a bundle (of either family) and rank with it, in a fresh interpreter whose import system
refuses those packages (and training, and pandas), however indirect the import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bundle.scoring import FAMILIES, Family
from bundle.store import bundle_metadata, save_model
from features.io import read_posts_csv
from features.schema import INPUT_COLUMNS, take
from features.transform import ALL_GROUPS
from serving.payloads import load_posts
from serving.schemas import columns

from .fitted import fit_model
from .test_layering import REFUSE_IMPORTS, SERVING_IMAGE_LACKS

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = set(SERVING_IMAGE_LACKS)
PROBE = REFUSE_IMPORTS + textwrap.dedent(
    """
    import json
    from pathlib import Path

    from fastapi.testclient import TestClient
    from serving.app import create_app
    from serving.settings import Settings

    with TestClient(create_app(Settings(model_dir=Path({model_dir!r})))) as client:
        response = client.post("/rank", json=json.loads({posts!r}))
    assert response.status_code == 200, response.text
    print(json.dumps([item["score"] for item in response.json()["ranked"]]))
    """
)


@pytest.mark.parametrize("family", FAMILIES)
def test_service_ranks_without_the_training_stack(
    family: Family, canonical_csv: Path, tmp_path: Path
) -> None:
    posts = read_posts_csv(canonical_csv)
    model, train = fit_model(take(posts, np.arange(2_000)), family, ALL_GROUPS)
    save_model(model, bundle_metadata(model, "lean", take(train, np.arange(5))), tmp_path)
    records = load_posts(canonical_csv)[2_000:2_020]
    probe = PROBE.format(blocked=BLOCKED, model_dir=str(tmp_path), posts=json.dumps(records))
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = sorted(json.loads(result.stdout.strip().splitlines()[-1]), reverse=True)
    expected = sorted(model.predict_proba(columns(records, INPUT_COLUMNS)).tolist(), reverse=True)
    assert np.abs(np.array(served) - np.array(expected)).max() <= 1e-9
