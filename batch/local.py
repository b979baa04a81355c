"""The local engine: streams the input in chunks, so memory holds one chunk, not the file.

Each chunk is validated and scored as it arrives and appended to a hidden staging file, which is
fsynced and renamed over the output only after the last chunk: readers see the old output or
the whole new one. After a faulty chunk nothing more is scored, but the rest of the input is
still checked, so the error names the first problem of the whole file, as checking it at once
would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq

from batch.frames import is_parquet, score_piece, staging_name, typed
from bundle.scoring import RankingModel
from bundle.store import fsync_path
from features.io import NO_ROWS, Faults, require_columns
from features.schema import SchemaError

DEFAULT_CHUNK_ROWS: Final = 100_000


def read_chunks(source: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The input in chunks of ``rows``: CSV fields as strings, Parquet columns as typed.

    Raises:
        SchemaError: One line when the file is missing, empty or not readable.
    """
    if not source.exists():
        raise SchemaError(f"input file {source} does not exist")
    if is_parquet(source):
        try:
            batches = pa_dataset.dataset(source, format="parquet").to_batches(batch_size=rows)
            for batch in batches:
                yield batch.to_pandas()
        except pa.ArrowInvalid as error:
            raise SchemaError(
                f"input file {source} is not a readable Parquet file: {error}"
            ) from error
        return
    try:
        with pd.read_csv(
            source, dtype=str, keep_default_na=False, na_values=[""], chunksize=rows
        ) as reader:
            yield from reader
    except pd.errors.EmptyDataError as error:
        raise SchemaError(f"input file {source} is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise SchemaError(f"input file {source} is not a readable CSV: {error}") from error


class _Staged:
    """Appends scored chunks to the hidden staging file, as CSV or as Parquet row groups (a CSV
    input's text cast to the schema's types)."""

    def __init__(self, source: Path, target: Path, stack: ExitStack) -> None:
        self.path = Path(staging_name(str(target)))
        self.source = source
        self.parquet = is_parquet(target)
        self.cast = self.parquet and not is_parquet(source)
        self.stack = stack
        self.handle: Any = stack.enter_context(
            self.path.open("wb")
            if self.parquet
            else self.path.open("w", newline="", encoding="utf-8")
        )
        self.writer: Any = None

    def append(self, scored: pd.DataFrame) -> None:
        if not self.parquet:
            scored.to_csv(self.handle, index=False, header=self.handle.tell() == 0)
            return
        if self.writer is None:
            table = self._table(scored)
            self.writer = self.stack.enter_context(pq.ParquetWriter(self.handle, table.schema))
        else:
            table = self._table(scored).cast(self.writer.schema)
        self.writer.write_table(table)

    def _table(self, scored: pd.DataFrame) -> pa.Table:
        table = pa.Table.from_pandas(scored, preserve_index=False)
        return typed(table, str(self.source)) if self.cast else table


def score_file(source: Path, target: Path, model: RankingModel, chunk_rows: int) -> int:
    """Scores ``source`` into ``target`` chunk by chunk; returns the number of rows.

    Raises:
        SchemaError: The input's first problem; ``target`` is then left as it was.
    """
    staging = Path(staging_name(str(target)))
    rows, faults = 0, Faults()
    try:
        with ExitStack() as stack:
            staged = _Staged(source, target, stack)
            for chunk in read_chunks(source, chunk_rows):
                if chunk.empty:
                    continue
                if rows == 0:
                    require_columns(chunk.columns)
                scored, found = score_piece(chunk, model, first_row=rows + 1)
                faults = faults.then(found)
                if scored is not None and not faults:
                    staged.append(scored)
                rows += len(chunk)
            error = faults.error() or (SchemaError(NO_ROWS) if rows == 0 else None)
            if error is not None:
                raise error
            stack.close()  # flushes the Parquet footer and closes the file before the fsync
        fsync_path(staging)
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return rows
