"""Saving and loading a bundle directory: ``model.joblib``, ``scoring.json``, ``metadata.json``.

``scoring.json`` is the model as plain data (``bundle.export``: the fitted feature state, the
estimator and the calibrator), which the service loads with ``load_lean_model``: no
unpickling, no scikit-learn, SciPy or LightGBM. ``model.joblib`` pickles the same objects for
batch scoring and notebooks, so both score through the same code.

The directory is written to a temporary sibling, fsynced and renamed into place, so an
interrupted run never leaves half a bundle behind. Loading refuses anything it cannot vouch for,
with one line naming the file and the problem: metadata that is oversized, nested beyond reason
or missing a key; a model file whose SHA-256 differs from the metadata; self-check posts that
no longer score as they did at training time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from bundle.export import ExportError, export_model, model_from_export
from bundle.scoring import RankingModel, Scorer
from features.schema import CATEGORY_COLUMN, ID_COLUMN, INPUT_COLUMNS, TEXT_COLUMN, Posts

MODEL_FILE: Final = "model.joblib"
SCORING_FILE: Final = "scoring.json"
METADATA_FILE: Final = "metadata.json"
MODEL_DIR_ENV: Final = "FEEDRANK_MODEL_DIR"
DEFAULT_MODEL_DIR: Final = Path(__file__).resolve().parent.parent / "models"
SELF_CHECK_TOLERANCE: Final = 1e-9
RECORDED_PACKAGES: Final = ("numpy", "scikit-learn", "lightgbm", "joblib")
# a real metadata file is ~10 KB and 5 levels deep; this bound only stops abuse (orjson refuses
# nesting deeper than its recursion limit of 1,024 levels as invalid JSON)
MAX_METADATA_BYTES: Final = 1 << 20
REQUIRED_KEYS: Final = (
    "model_version",
    "family",
    "feature_names",
    "model_sha256",
    "package_versions",
    "self_check",
)

log = logging.getLogger("feedrank.bundle")


class ModelLoadError(RuntimeError):
    """The bundle directory is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class Loaded:
    """A verified bundle: the scoring object and the metadata it was saved with."""

    model: RankingModel
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])


LoadedModel = Loaded
# the service's name: it holds the model read from scoring.json, not the pickle
LoadedLeanModel = Loaded


def model_dir_from_env(environ: Mapping[str, str] = os.environ) -> Path:
    """The bundle directory: ``$FEEDRANK_MODEL_DIR`` or ``models/`` at the repository root."""
    return Path(environ.get(MODEL_DIR_ENV, str(DEFAULT_MODEL_DIR)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose pickles or numerics a bundle depends on."""
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def bundle_metadata(
    model: RankingModel, version: str, check_posts: Posts, **extra: Any
) -> dict[str, Any]:
    """The metadata every bundle carries (``REQUIRED_KEYS`` but the checksum), plus ``extra``.

    ``check_posts`` (a few rows the model was not fitted on) and their scores become the
    self-check that ``load_model`` re-runs.
    """
    records = [
        {column: _plain(check_posts[column][row]) for column in INPUT_COLUMNS}
        for row in range(len(check_posts[ID_COLUMN]))
    ]
    return {
        "model_version": version,
        "family": model.family,
        "feature_names": list(model.features.feature_names),
        "package_versions": package_versions(),
        "self_check": {"posts": records, "scores": model.predict_proba(check_posts).tolist()},
        **extra,
    }


def save_model(model: RankingModel, metadata: dict[str, Any], model_dir: Path) -> None:
    """Writes the bundle, its scoring export and metadata atomically (temp directory, rename).

    All files are fsynced before the rename, so after a crash ``model_dir`` holds the previous
    complete bundle or the new one, never a mix; killed between the two renames, it is absent
    (``load_model`` then says so). Staging directories left by a run that was killed (SIGKILL
    skips the clean-up below) are removed first.
    """
    model_dir = model_dir.resolve()
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    retired = model_dir.with_name(f".{model_dir.name}-old")
    for leftover in model_dir.parent.glob(f".{model_dir.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    import joblib  # here, not at the top: the service loads bundles without joblib

    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}-", dir=model_dir.parent))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        scoring = json.dumps(export_model(model), allow_nan=False, separators=(",", ":"))
        (staging / SCORING_FILE).write_text(scoring + "\n")
        full_metadata = {
            **metadata,
            "model_sha256": sha256_file(staging / MODEL_FILE),
            "scoring_sha256": sha256_file(staging / SCORING_FILE),
        }
        metadata_text = json.dumps(
            full_metadata, allow_nan=False, indent=2
        )  # the loaders (orjson) refuse NaN
        (staging / METADATA_FILE).write_text(metadata_text + "\n")
        for path in (
            staging / MODEL_FILE,
            staging / SCORING_FILE,
            staging / METADATA_FILE,
            staging,
        ):
            fsync_path(path)
        if model_dir.exists():
            model_dir.rename(retired)
            staging.rename(model_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(model_dir)
        fsync_path(model_dir.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fsync_path(path: Path) -> None:
    """Flushes a file or a directory entry to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_model(model_dir: Path) -> LoadedModel:
    """Loads and verifies a bundle directory, unpickling the training objects.

    Raises:
        ModelLoadError: One line naming the path and what is wrong with it.
    """
    import joblib  # here, not at the top: the service loads bundles without joblib

    metadata = _verified_metadata(model_dir)
    model_path, metadata_path = model_dir / MODEL_FILE, model_dir / METADATA_FILE
    try:
        model = joblib.load(model_path)
    except Exception as error:
        raise ModelLoadError(f"{model_path} cannot be unpickled: {error!r}") from error
    if not isinstance(model, RankingModel):
        raise ModelLoadError(f"{model_path} holds a {type(model).__name__}, not a RankingModel")
    if list(model.features.feature_names) != list(metadata["feature_names"]):
        raise ModelLoadError(f"{model_path} features disagree with {metadata_path}")
    check_model(model, metadata, f"model in {model_dir}")
    return LoadedModel(model, metadata)


def load_lean_model(model_dir: Path) -> LoadedLeanModel:
    """Loads and verifies a bundle directory, reading the exported model (``scoring.json``).

    The whole bundle is verified (both checksums) and the export must reproduce the scores
    recorded at training time (the self-check, within 1e-9), so it cannot drift from the pickle.

    Raises:
        ModelLoadError: One line naming the path and what is wrong with it.
    """
    # the export is read with NumPy alone: other packages' versions cannot change its scores
    metadata = _verified_metadata(model_dir, packages=("numpy",))
    scoring_path, metadata_path = model_dir / SCORING_FILE, model_dir / METADATA_FILE
    if not scoring_path.is_file() or "scoring_sha256" not in metadata:
        raise ModelLoadError(
            f"{scoring_path} is missing or unrecorded in {METADATA_FILE} (a bundle from before "
            "scoring exports: retrain)"
        )
    _check_sha(scoring_path, str(metadata["scoring_sha256"]))
    try:
        document = orjson.loads(scoring_path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise ModelLoadError(f"{scoring_path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ModelLoadError(
            f"{scoring_path} holds a JSON {type(document).__name__}, not a scoring export"
        )
    try:
        model = model_from_export(document)
    except ExportError as error:
        raise ModelLoadError(f"{scoring_path}: {error}") from error
    if list(model.features.feature_names) != list(metadata["feature_names"]):
        raise ModelLoadError(f"{scoring_path} features disagree with {metadata_path}")
    check_model(model, metadata, f"model in {model_dir}")
    return LoadedLeanModel(model, metadata)


def _verified_metadata(
    model_dir: Path, packages: tuple[str, ...] = RECORDED_PACKAGES
) -> dict[str, Any]:
    """Checks the directory, both files, the metadata's shape and the pickle's checksum."""
    model_path, metadata_path = model_dir / MODEL_FILE, model_dir / METADATA_FILE
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist (run the pipeline)")
    for path in (model_path, metadata_path):
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing (run the pipeline to train a model)")
    metadata = read_metadata(metadata_path)
    _check_sha(model_path, metadata["model_sha256"])
    _warn_on_version_drift(metadata_path, metadata["package_versions"], packages)
    return metadata


def _check_sha(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ModelLoadError(
            f"{path} does not match its metadata (sha256 {actual[:12]}..., "
            f"expected {expected[:12]}...): corrupt or from another run"
        )


def read_metadata(path: Path) -> dict[str, Any]:
    """Parses and shape-checks ``metadata.json``; bounded in size before parsing.

    Raises:
        ModelLoadError: One line naming ``path`` and, for a missing key, the key.
    """
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ModelLoadError(
            f"{path} is {size:,} bytes, over the {MAX_METADATA_BYTES:,}-byte limit for metadata"
        )
    try:
        metadata = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise ModelLoadError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path} holds a JSON {type(metadata).__name__}, not an object")
    for key in REQUIRED_KEYS:
        if key not in metadata:
            raise ModelLoadError(f"{path} has no {key!r} key (written by another version?)")
    for key, kind in (("model_sha256", str), ("feature_names", list), ("package_versions", dict)):
        if not isinstance(metadata[key], kind):
            raise ModelLoadError(f"{path}: {key!r} must be a JSON {kind.__name__}")
    return metadata


def _warn_on_version_drift(
    metadata_path: Path, recorded: Mapping[str, Any], packages: tuple[str, ...]
) -> None:
    """Logs one warning when the bundle was written with other versions of ``packages``.

    The self-check that follows decides whether the bundle still scores correctly; this line
    tells the operator why it might not.
    """
    installed = package_versions()
    drift = {
        name: (str(recorded[name]), installed[name])
        for name in packages
        if name in recorded and str(recorded[name]) != installed[name]
    }
    if drift:
        log.warning(
            "%s was written with other package versions than those installed: %s",
            metadata_path,
            ", ".join(f"{name} {saved} (installed {now})" for name, (saved, now) in drift.items()),
        )


def check_model(model: Scorer, metadata: Mapping[str, Any], name: str) -> None:
    """Re-scores the self-check posts stored in ``metadata`` and compares the scores.

    Used at load time and by the service's /ready after the model has raised.

    Raises:
        ModelLoadError: One line starting with ``name``: the check is malformed or empty, the
            model raises on it, or its scores differ from those recorded at training time.
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
    if len(records) == 0:
        raise ModelLoadError(f"{name} has an empty self_check: nothing proves it still scores")
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
    if column in (TEXT_COLUMN, CATEGORY_COLUMN):
        return object
    if column == ID_COLUMN:
        return np.int64
    return np.float64


def _plain(value: Any) -> Any:
    """NumPy scalars to JSON-friendly Python values."""
    return value.item() if isinstance(value, np.generic) else value
