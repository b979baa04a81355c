"""Saving and loading the deployable model: a joblib bundle plus a metadata JSON.

The directory is written to a temporary sibling, fsynced and renamed into place, so an
interrupted run never leaves half an artifact behind. Loading verifies the bundle's SHA-256
against the metadata and re-scores stored self-check posts, so a corrupt or mismatched directory
is refused with one line naming the path and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np

from features.schema import INPUT_COLUMNS, Posts
from training.models import RankingModel

MODEL_FILE: Final = "model.joblib"
METADATA_FILE: Final = "metadata.json"
MODEL_DIR_ENV: Final = "FEEDRANK_MODEL_DIR"
DEFAULT_MODEL_DIR: Final = Path(__file__).resolve().parent.parent / "models"
SELF_CHECK_TOLERANCE: Final = 1e-9
RECORDED_PACKAGES: Final = ("numpy", "scikit-learn", "lightgbm", "pandas", "joblib")


class ModelLoadError(RuntimeError):
    """The model directory is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class LoadedModel:
    model: RankingModel
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])


def model_dir_from_env() -> Path:
    """The model directory: ``$FEEDRANK_MODEL_DIR`` or ``models/`` at the repository root."""
    return Path(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    return {name: importlib_metadata.version(name) for name in RECORDED_PACKAGES}


def self_check_payload(posts: Posts, model: RankingModel) -> dict[str, Any]:
    """A few posts and their scores, re-scored at load time to prove the bundle still works."""
    records = [
        {column: _plain(posts[column][row]) for column in INPUT_COLUMNS}
        for row in range(len(posts["score"]))
    ]
    return {"posts": records, "scores": model.predict_proba(posts).tolist()}


def save_model(model: RankingModel, metadata: dict[str, Any], model_dir: Path) -> None:
    """Writes the bundle and metadata atomically (temp directory, then rename).

    Both files are fsynced before the rename, so after a crash ``model_dir`` holds the previous
    complete model or the new one, never a mix; killed between the two renames, it is absent
    (``load_model`` then says so). Staging directories left by a run that was killed (SIGKILL
    skips the clean-up below) are removed first.
    """
    model_dir = model_dir.resolve()
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    retired = model_dir.with_name(f".{model_dir.name}-old")
    for leftover in model_dir.parent.glob(f".{model_dir.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}-", dir=model_dir.parent))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        full_metadata = {**metadata, "model_sha256": sha256_file(staging / MODEL_FILE)}
        (staging / METADATA_FILE).write_text(json.dumps(full_metadata, indent=2) + "\n")
        for path in (staging / MODEL_FILE, staging / METADATA_FILE, staging):
            _fsync(path)
        if model_dir.exists():
            model_dir.rename(retired)
            staging.rename(model_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(model_dir)
        _fsync(model_dir.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync(path: Path) -> None:
    """Flushes a file or a directory entry to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_model(model_dir: Path) -> LoadedModel:
    """Loads and verifies a model directory.

    Raises:
        ModelLoadError: One line naming the path and what is wrong with it.
    """
    model_path, metadata_path = model_dir / MODEL_FILE, model_dir / METADATA_FILE
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist (run the pipeline)")
    for path in (model_path, metadata_path):
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing (run the pipeline to train a model)")
    try:
        metadata = json.loads(metadata_path.read_text())
        expected_sha = metadata["model_sha256"]
        expected_features = metadata["feature_names"]
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{metadata_path} is not valid model metadata: {error!r}") from error
    actual_sha = sha256_file(model_path)
    if actual_sha != expected_sha:
        raise ModelLoadError(
            f"{model_path} does not match its metadata (sha256 {actual_sha[:12]}..., "
            f"expected {str(expected_sha)[:12]}...): corrupt or from another run"
        )
    try:
        model = joblib.load(model_path)
    except Exception as error:
        raise ModelLoadError(f"{model_path} cannot be unpickled: {error!r}") from error
    if not isinstance(model, RankingModel):
        raise ModelLoadError(f"{model_path} holds a {type(model).__name__}, not a RankingModel")
    if list(model.features.feature_names) != list(expected_features):
        raise ModelLoadError(f"{model_path} features disagree with {metadata_path}")
    check_model(model, metadata, f"model in {model_dir}")
    return LoadedModel(model, metadata)


def check_model(model: RankingModel, metadata: dict[str, Any], name: str) -> None:
    """Re-scores the self-check posts stored in ``metadata`` and compares the scores.

    Used at load time and by the service's /ready after the model has raised.

    Raises:
        ModelLoadError: One line starting with ``name``: the check is malformed, the model
            raises on it, or its scores differ from those recorded at training time.
    """
    try:
        records = metadata["self_check"]["posts"]
        posts: dict[str, np.ndarray] = {
            column: np.array([record[column] for record in records], dtype=_dtype(column))
            for column in INPUT_COLUMNS
        }
        expected = np.asarray(metadata["self_check"]["scores"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelLoadError(
            f"{name} has a malformed self_check in its metadata: {error!r}"
        ) from error
    try:
        scores = model.predict_proba(posts)
    except Exception as error:
        raise ModelLoadError(f"{name} raises on its self-check posts: {error!r}") from error
    if scores.shape != expected.shape or not np.allclose(
        scores, expected, rtol=0.0, atol=SELF_CHECK_TOLERANCE
    ):
        raise ModelLoadError(
            f"{name} fails its self-check: scores differ from those recorded at "
            "training time (incompatible package versions?)"
        )


def _dtype(column: str) -> type:
    if column in ("title", "subreddit"):
        return object
    if column == "post_id":
        return np.int64
    return np.float64


def _plain(value: Any) -> Any:
    """NumPy scalars to JSON-friendly Python values."""
    return value.item() if isinstance(value, np.generic) else value
