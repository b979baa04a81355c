"""The post features as a Feast repository: one definition read by training and by serving.

``feature_repo/feature_store.yaml`` says where the registry and the stores are (an embedded
SQLite online store; ``feature_store.redis.yaml`` puts it in Redis); this module says what they
hold: the entity ``post`` (join key ``post_id``) and the view ``post_features`` over the fields
the model reads, named by ``features.schema``. The offline source is a Parquet copy of the posts
CSV with an ``event_timestamp`` per post: ``SNAPSHOT - post_age_hours``, its creation time. The
CSV is one snapshot of the feed, taken at ``SNAPSHOT``: a fixed time, so every run writes the
same file, and every row is dated no later than the time training asks for.

``python -m features.feature_store [--config YAML]`` writes the source, registers the
definitions and materializes the online store (``--register-only`` skips the last step: the
serving image's registry); ``historical_posts`` is training's read.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import prometheus_client  # noqa: F401  (imported before Feast: see below)

from features.io import posts_from_frame, read_posts_csv
from features.schema import (
    CATEGORY_COLUMN,
    FEATURE_REFS,
    FEATURE_VIEW,
    ID_COLUMN,
    INPUT_COLUMNS,
    INTEGER_COLUMNS,
    LABEL_COLUMN,
    POST_FIELDS,
    TEXT_COLUMN,
)

# Importing Feast imports feast.metrics, which prepares the process for Feast's own feature
# server: it creates a temp dir and points PROMETHEUS_MULTIPROC_DIR at it, the variable that puts
# prometheus_client (and the service's settings) in multiprocess mode. Here Feast is a library,
# in processes that may also run the service's code (the test suite builds stores and serves
# apps in one process, and the servers it starts inherit its environment): prometheus_client is
# already imported, so its mode follows the environment as given; Feast is shown an existing
# directory, so it creates none; and the two variables are put back as they were.
_PROMETHEUS_VARIABLES: Final = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
_given = {name: os.environ.get(name) for name in _PROMETHEUS_VARIABLES}
os.environ.setdefault("PROMETHEUS_MULTIPROCESS_DIR", tempfile.gettempdir())
try:
    import feast.metrics  # noqa: F401
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, PrimitiveFeastType, String
finally:
    for _name, _value in _given.items():
        if _value is None:
            os.environ.pop(_name, None)
        else:
            os.environ[_name] = _value

DEFAULT_CONFIG: Final = Path("feature_repo/feature_store.yaml")
DEFAULT_CSV: Final = Path("data/posts.csv")
SNAPSHOT: Final = datetime(2026, 1, 1, tzinfo=UTC)
TIMESTAMP_COLUMN: Final = "event_timestamp"
ROW_COLUMN: Final = "row"


def _dtype(column: str) -> PrimitiveFeastType:
    if column in (TEXT_COLUMN, CATEGORY_COLUMN):
        return String
    return Int64 if column in INTEGER_COLUMNS else Float64


POST: Final = Entity(name="post", join_keys=[ID_COLUMN], value_type=ValueType.INT64)
SOURCE: Final = FileSource(
    name="posts", path="../data/feast/posts.parquet", timestamp_field=TIMESTAMP_COLUMN
)
POST_FEATURES: Final = FeatureView(
    name=FEATURE_VIEW,
    entities=[POST],
    # a snapshot's values never expire: a timedelta of 0 is Feast's "no time limit"
    ttl=timedelta(0),
    schema=[Field(name=column, dtype=_dtype(column)) for column in POST_FIELDS],
    source=SOURCE,
)


def open_store(config: Path = DEFAULT_CONFIG) -> FeatureStore:
    """The store that ``config`` describes; its directory is the repository."""
    return FeatureStore(repo_path=str(config.parent), fs_yaml_file=config)


def source_path(store: FeatureStore) -> Path:
    return Path(store.repo_path) / SOURCE.path


def offline_frame(csv: Path) -> pd.DataFrame:
    """The validated posts CSV as the offline source: its columns, whole numbers as int64, and
    the event timestamp."""
    posts = read_posts_csv(csv)
    frame = pd.DataFrame(posts)
    frame = frame.astype({column: np.int64 for column in INTEGER_COLUMNS if column in frame})
    age = pd.to_timedelta(frame["post_age_hours"], unit="h")
    frame[TIMESTAMP_COLUMN] = (pd.Timestamp(SNAPSHOT) - age).dt.floor("s")
    return frame


def register(csv: Path, config: Path) -> tuple[FeatureStore, pd.DataFrame]:
    """Writes the offline source from ``csv`` and registers the definitions in the store
    ``config`` describes; the store and the source's rows."""
    store = open_store(config)
    frame = offline_frame(csv)
    path = source_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)
    store.apply([POST, POST_FEATURES])
    return store, frame


def build(csv: Path, config: Path) -> FeatureStore:
    """``register``, then every post materialized into the online store."""
    store, frame = register(csv, config)
    earliest = frame[TIMESTAMP_COLUMN].min().to_pydatetime()
    store.materialize(earliest, SNAPSHOT + timedelta(seconds=1))
    return store


def historical_posts(store: FeatureStore, csv: Path) -> dict[str, np.ndarray]:
    """Training's posts: ids and labels from ``csv``, features from the offline store by
    point-in-time retrieval as of ``SNAPSHOT``, rows in the CSV's order, validated like the
    CSV itself (``features.io.posts_from_frame``)."""
    labels = read_posts_csv(csv)
    entities = pd.DataFrame(
        {
            ID_COLUMN: labels[ID_COLUMN],
            LABEL_COLUMN: labels[LABEL_COLUMN],
            ROW_COLUMN: np.arange(len(labels[ID_COLUMN])),
            TIMESTAMP_COLUMN: pd.Timestamp(SNAPSHOT),
        }
    )
    frame = store.get_historical_features(entity_df=entities, features=list(FEATURE_REFS))
    joined = frame.to_df().sort_values(ROW_COLUMN).reset_index(drop=True)
    return posts_from_frame(joined[[*INPUT_COLUMNS, LABEL_COLUMN]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m features.feature_store",
        description="Write the offline source, register the definitions, fill the online store.",
    )
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="feature_store.yaml")
    parser.add_argument(
        "--register-only",
        action="store_true",
        help="write the source and the registry, leave the online store as it is",
    )
    args = parser.parse_args(argv)
    if args.register_only:
        register(args.csv, args.config)
    else:
        build(args.csv, args.config)


if __name__ == "__main__":
    main()
