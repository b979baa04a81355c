"""Files through Hadoop's FileSystem API, the layer Spark itself reads and writes with, so the
Spark engine's header read, renames and deletes work for local paths and cluster storage alike.
"""

from __future__ import annotations

import csv
from typing import Any

from pyspark.sql import SparkSession

from batch.frames import staging_name
from features.schema import SchemaError


class HadoopFiles:
    """Renames and deletes through Hadoop's FileSystem, the layer Spark itself writes with."""

    def __init__(self, spark: SparkSession) -> None:
        jvm: Any = spark.sparkContext._jvm  # PySpark exposes Hadoop's classes only here
        self._jvm = jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _resolve(self, location: str) -> tuple[Any, Any]:
        path = self._path(location)
        return path.getFileSystem(self._conf), path

    def header(self, location: str) -> list[str]:
        """The column names in the first line of the first file Spark would read at
        ``location`` (a file, a directory of parts, or a glob), decompressed as Spark does.

        Raises:
            SchemaError: Nothing is at ``location``, or its files are empty.
        """
        fs, path = self._resolve(location)
        found = fs.globStatus(path) or []
        if not found:
            raise SchemaError(f"input file {location} does not exist")
        parts = [
            part
            for status in found
            for part in (fs.listStatus(status.getPath()) if status.isDirectory() else [status])
            if part.isFile()
            and part.getLen() > 0
            and not part.getPath().getName().startswith(("_", "."))
        ]
        if not parts:
            raise SchemaError(f"input file {location} is empty")
        first = min((part.getPath() for part in parts), key=str)
        stream = fs.open(first)
        codec = self._jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(self._conf)
        if (decompress := codec.getCodec(first)) is not None:
            stream = decompress.createInputStream(stream)
        io = self._jvm.java.io
        reader = io.BufferedReader(io.InputStreamReader(stream, "UTF-8"))
        try:
            line = reader.readLine()
        finally:
            reader.close()
        return next(csv.reader([line])) if line else []

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
