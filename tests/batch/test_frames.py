"""The file conventions both batch engines share (``batch.frames``): which outputs are Parquet,
where a run stages its output, and the types a Parquet output of a CSV input stores."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from batch.frames import PARQUET_TYPES, is_parquet, staging_name, typed
from features.schema import SchemaError


@pytest.mark.parametrize(
    ("location", "parquet"),
    [
        ("scored.parquet", True),
        ("out/scored.parquet/", True),  # a directory of parts
        (Path("scored.csv"), False),
        ("hdfs://host/scored.parquet", True),
        ("scored.parquet.csv", False),
    ],
)
def test_parquet_is_told_by_the_suffix(location: str | Path, parquet: bool) -> None:
    assert is_parquet(location) is parquet


@pytest.mark.parametrize(
    ("target", "staged"),
    [
        ("scored.csv", ".scored.csv.tmp"),
        ("out/scored.csv", "out/.scored.csv.tmp"),
        ("hdfs://host/out/scored.parquet/", "hdfs://host/out/.scored.parquet.tmp"),
    ],
)
def test_a_run_stages_its_output_as_a_hidden_sibling(target: str, staged: str) -> None:
    assert staging_name(target) == staged


def test_csv_text_becomes_the_schemas_types_and_other_columns_stay_text() -> None:
    text = pa.table(
        {
            "post_id": ["1", "2"],
            "num_comments": ["0", "17"],
            "upvote_ratio": ["0.785", "1"],
            "note": ["kept", "as text"],
        }
    )
    table = typed(text, "in.csv")
    assert {name: table.schema.field(name).type for name in ("post_id", "num_comments")} == {
        "post_id": PARQUET_TYPES["post_id"],
        "num_comments": pa.int64(),
    }
    assert table.column("upvote_ratio").to_pylist() == [0.785, 1.0]
    assert table.schema.field("note").type == pa.string()


def test_a_fraction_in_a_whole_number_column_is_one_line_naming_it() -> None:
    text = pa.table({"post_id": ["1", "2"], "num_comments": ["3", "2.5"]})
    with pytest.raises(SchemaError, match=re.escape("input file in.csv holds '2.5' in one of")):
        typed(text, "in.csv")
