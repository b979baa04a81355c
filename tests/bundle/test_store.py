"""``bundle/store.py``: a saved bundle loads back verified, and every way a bundle can be broken
is refused with one line naming the file, before anything could score with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundle.store import METADATA_FILE, SCORING_FILE, ModelLoadError, load_lean_model, load_model
from features.io import read_posts_csv
from features.schema import INPUT_COLUMNS
from tests.support.bundles import MODEL_VERSION, TrainedBundle, save_bundle

ROWS = 3_000


@pytest.fixture(scope="module")
def bundle(canonical_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("store") / "models"
    save_bundle(canonical_csv, directory, "logistic", ("raw",), rows=ROWS)
    return directory


def broken_copy(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(bundle, copy)
    return copy


def test_a_saved_bundle_loads_with_its_version_and_scores(
    bundle: Path, canonical_csv: Path
) -> None:
    loaded = load_lean_model(bundle)
    assert loaded.version == MODEL_VERSION
    posts = read_posts_csv(canonical_csv)
    table = {name: posts[name][:50] for name in INPUT_COLUMNS}
    scores = loaded.model.score(table).probabilities
    assert scores.shape == (50,) and np.all((scores > 0) & (scores < 1))


def test_an_edited_export_fails_its_checksum(bundle: Path, tmp_path: Path) -> None:
    copy = broken_copy(bundle, tmp_path)
    path = copy / SCORING_FILE
    path.write_bytes(path.read_bytes().replace(b"logistic", b"logistiq", 1))
    with pytest.raises(ModelLoadError, match="does not match its metadata") as error:
        load_lean_model(copy)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content", ["{not json", "[" * 100_000 + "]" * 100_000], ids=["broken", "nested absurdly"]
)
def test_metadata_that_is_not_json_is_named(bundle: Path, tmp_path: Path, content: str) -> None:
    copy = broken_copy(bundle, tmp_path)
    (copy / METADATA_FILE).write_text(content)
    with pytest.raises(ModelLoadError, match="is not valid JSON") as error:
        load_lean_model(copy)
    assert str(copy / METADATA_FILE) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_directory_says_to_run_the_pipeline(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist \\(run the pipeline\\)"):
        load_lean_model(tmp_path / "absent")


def test_metadata_without_a_required_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = broken_copy(bundle, tmp_path)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    del metadata["feature_names"]
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="feature_names"):
        load_lean_model(copy)


def test_tampered_artifacts_are_refused(deployed_bundle: TrainedBundle, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(deployed_bundle.model_dir, copy)
    with (copy / "model.joblib").open("ab") as handle:
        handle.write(b"junk")
    with pytest.raises(ModelLoadError, match="does not match its metadata"):
        load_model(copy)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (copy / "metadata.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(copy)
