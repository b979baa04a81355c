"""The Spark engine: the same validation and scoring, run per partition with ``mapInPandas``.

The driver loads and verifies the bundle (checksum, self-check), then broadcasts its two files
(a few KB); each Python worker rebuilds the directory once, verifies it again with the same
``load_model`` and keeps the model for every partition it scores. Each Arrow batch goes through
``batch.frames.score_piece``: the service's ``FeaturePipeline.transform`` and ``RankingModel``.

Output is written to a hidden sibling and renamed into place through Hadoop's file system API,
so it works for local paths and cluster storage alike. A batch that breaks the schema makes its
partition stop and count the fault in an accumulator instead of failing the task, which keeps
Spark's error logs out of the CLI's one-line message; the driver then discards the staging
output and runs a validation-only pass that merges every partition's faults in input order, so
the message is the one the local engine prints for the same file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Final

import pandas as pd
from py4j.protocol import Py4JJavaError
from pyspark import Accumulator, Broadcast, TaskContext
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BooleanType, DoubleType, StructField, StructType

from batch.frames import (
    SCORE_COLUMN,
    UNKNOWN_COLUMN,
    EngineUnavailable,
    is_parquet,
    score_piece,
    staging_name,
)
from bundle.scoring import RankingModel
from bundle.store import METADATA_FILE, MODEL_FILE, load_model
from features.io import NO_ROWS, Faults, find_faults, require_columns
from features.schema import SchemaError

DEFAULT_MASTER: Final = "local[*]"
LOG_CONFIG: Final = Path(__file__).resolve().parent / "log4j2.properties"
FAULTS_SCHEMA: Final = "partition int, rows long, faults binary"
# FAILFAST's error for a row whose field count differs from the header's
MALFORMED: Final = re.compile(
    r"\[MALFORMED_CSV_RECORD\] (Malformed CSV record: .*?)(?: SQLSTATE|$)", re.M
)
MAX_REASON_CHARS: Final = 300

# PySpark 4.3 warns that pandas 3 is not yet fully supported; the parts used here (string,
# long, double and boolean columns through mapInPandas) are covered by tests/test_batch_spark.py
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

_models: dict[str, RankingModel] = {}  # per Python worker: one verified load per bundle


def session(master: str | None = None) -> SparkSession:
    """A session on ``master``; under spark-submit, the master it was given, else local[*]."""
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # set by spark-submit for its Python driver
    if not submitted and "JAVA_HOME" not in os.environ and shutil.which("java") is None:
        raise EngineUnavailable("the Spark engine needs a Java 17+ runtime: java is not on PATH")
    builder = SparkSession.builder.appName("feedrank-batch").config(
        "spark.ui.showConsoleProgress", "false"
    )
    chosen = master or (None if submitted else DEFAULT_MASTER)
    if chosen is not None:
        builder = builder.master(chosen)
    if chosen is not None and chosen.startswith("local") and not submitted:
        # local workers run this interpreter (it has the pinned packages), not the PATH's python3
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # no web UI: a one-shot local job has no one watching port 4040, and parallel runs
        # would race for it
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
        ).config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def run(source: str, target: str, model_dir: Path, master: str | None) -> None:
    """The CLI's Spark path: the active session if there is one (a notebook's, a test's), else
    a session for this run, stopped afterwards."""
    active = SparkSession.getActiveSession()
    spark = active or session(master)
    try:
        score(spark, source, target, model_dir)
    finally:
        if active is None:
            spark.stop()


def score(spark: SparkSession, source: str, target: str, model_dir: Path) -> None:
    """Scores ``source`` into the directory ``target``.

    Raises:
        SchemaError: The input's first problem (as the local engine words it); ``target`` is
            then left as it was.
        ModelLoadError: The bundle fails verification on the driver.
    """
    load_model(model_dir)  # fail on the driver, in one line, before any task starts
    frame = read(spark, source)
    require_columns(frame.columns)
    if frame.isEmpty():
        raise SchemaError(NO_ROWS)
    bundle = spark.sparkContext.broadcast(_bundle_files(model_dir))
    faults: Accumulator[int] = spark.sparkContext.accumulator(0)
    schema = StructType(
        [
            *frame.schema.fields,
            StructField(SCORE_COLUMN, DoubleType(), nullable=False),
            StructField(UNKNOWN_COLUMN, BooleanType(), nullable=False),
        ]
    )
    scored = frame.mapInPandas(partial(_score_batches, bundle=bundle, faults=faults), schema)
    staging = staging_name(target)
    files = _FileSystem(spark)
    try:
        writer = scored.write.mode("overwrite")
        if is_parquet(target):
            writer.parquet(staging)
        else:
            writer.csv(staging, header=True)
        if faults.value:
            error = first_fault(frame).error()
            raise error or SchemaError("a partition reported a fault that re-validation missed")
        files.replace(staging, target)
    except (PySparkException, Py4JJavaError) as error:
        reason = _malformed_record(str(error))
        if reason is None:
            raise
        raise SchemaError(f"input file {source} is not a readable CSV: {reason}") from error
    finally:
        files.delete(staging)


def read(spark: SparkSession, source: str) -> DataFrame:
    """The input as Spark reads it: CSV columns as strings (RFC 4180 quotes), Parquet as typed.

    Raises:
        SchemaError: The input does not exist or is empty.
    """
    try:
        if is_parquet(source):
            frame = spark.read.parquet(source)
        else:
            frame = spark.read.csv(source, header=True, escape='"', mode="FAILFAST")
    except PySparkException as error:
        if "PATH_NOT_FOUND" in str(error):
            raise SchemaError(f"input file {source} does not exist") from error
        raise _unreadable(source, error) from error
    if not frame.columns:
        raise SchemaError(f"input file {source} is empty")
    return frame


def first_fault(frame: DataFrame) -> Faults:
    """All faults of ``frame``, row numbers counted through the partitions in input order."""
    found = frame.mapInPandas(_fault_summary, FAULTS_SCHEMA).collect()
    merged, seen = Faults(), 0
    for row in sorted(found, key=lambda row: int(row["partition"])):
        merged = merged.then(pickle.loads(row["faults"]).shifted(seen))
        seen += int(row["rows"])
    return merged


def _score_batches(
    batches: Iterator[pd.DataFrame], bundle: Broadcast[dict[str, bytes]], faults: Accumulator[int]
) -> Iterator[pd.DataFrame]:
    model = _model(bundle.value)
    for batch in batches:
        scored, _ = score_piece(batch, model, first_row=1)
        if scored is None:
            faults.add(1)  # the driver re-validates; this partition's remaining rows are moot
            return
        yield scored


def _fault_summary(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    faults, rows = Faults(), 0
    for batch in batches:
        faults = faults.then(find_faults(batch, first_row=rows + 1)[1])
        rows += len(batch)
    partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
    yield pd.DataFrame({"partition": [partition], "rows": [rows], "faults": [pickle.dumps(faults)]})


def _bundle_files(model_dir: Path) -> dict[str, bytes]:
    return {name: (model_dir / name).read_bytes() for name in (MODEL_FILE, METADATA_FILE)}


def _model(files: dict[str, bytes]) -> RankingModel:
    """The broadcast bundle, written to a private directory and verified once per worker."""
    key = hashlib.sha256(files[MODEL_FILE]).hexdigest()
    if key not in _models:
        with tempfile.TemporaryDirectory(prefix="feedrank-bundle-") as directory:
            for name, content in files.items():
                (Path(directory) / name).write_bytes(content)
            _models[key] = load_model(Path(directory)).model
    return _models[key]


def _malformed_record(message: str) -> str | None:
    """Spark's description of the first malformed CSV row, found in a failed job's error."""
    found = MALFORMED.search(message)
    return found.group(1)[:MAX_REASON_CHARS] if found else None


def _unreadable(source: str, error: PySparkException) -> SchemaError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    kind = "Parquet file" if is_parquet(source) else "CSV"
    return SchemaError(f"input file {source} is not a readable {kind}: {first_line}")


class _FileSystem:
    """Renames and deletes through Hadoop's FileSystem, the layer Spark itself writes with."""

    def __init__(self, spark: SparkSession) -> None:
        jvm: Any = spark.sparkContext._jvm  # PySpark exposes Hadoop's classes only here
        self._path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _resolve(self, location: str) -> tuple[Any, Any]:
        path = self._path(location)
        return path.getFileSystem(self._conf), path

    def delete(self, location: str) -> None:
        fs, path = self._resolve(location)
        fs.delete(path, True)

    def replace(self, staging: str, target: str) -> None:
        """Moves ``staging`` to ``target``; an old ``target`` is moved aside, then deleted."""
        fs, path = self._resolve(target)
        _, new = self._resolve(staging)
        retired = self._path(staging_name(target) + "-old")
        fs.delete(retired, True)
        if fs.exists(path):
            fs.rename(path, retired)
        if not fs.rename(new, path):
            raise SchemaError(f"could not rename {staging} to {target}")
        fs.delete(retired, True)
