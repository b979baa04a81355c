"""One local Spark session for the whole test run (a JVM start costs seconds).

Small files and small batches force several partitions and several Arrow batches per partition,
so the tests exercise how faults and row numbers merge across them. A test module uses it with
``pytest_plugins = ["tests.spark_fixtures"]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from batch.spark import session

SMALL_PARTITION_BYTES = 64 * 1024  # the canonical CSV holds ~70 bytes per row
SMALL_ARROW_BATCH = 700


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    spark = session("local[2]")
    for key, value in {
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.files.maxPartitionBytes": str(SMALL_PARTITION_BYTES),
        "spark.sql.files.openCostInBytes": str(SMALL_PARTITION_BYTES),
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(SMALL_ARROW_BATCH),
    }.items():
        spark.conf.set(key, value)
    yield spark
    spark.stop()


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
