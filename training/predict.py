"""Batch scoring: ``python -m training.predict --input posts.csv --output scored.csv``.

Scores any CSV in the posts schema (``engaged`` optional) with the saved model, using the same
feature code as training and serving. The output is the input's columns, echoed exactly as
they were written (the file is read as text, so ``0.785`` stays ``0.785``), plus
``engagement_score`` (the calibrated P(engaged), full precision; the input's own ``score`` is
the post's vote score) and ``unknown_subreddit``, in input order. It is written to a temporary
file and renamed, so a failure never leaves a partial output, and the input is never
overwritten. Bad input ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from bundle.store import ModelLoadError, load_model, model_dir_from_env
from features.io import posts_from_frame
from features.schema import CATEGORY_COLUMN, SchemaError

EXIT_BAD_INPUT = 2
SCORE_COLUMN = "engagement_score"


def score_frame(frame: pd.DataFrame, model_dir: Path) -> pd.DataFrame:
    """Validates and scores a frame of text cells; raises ``SchemaError`` or ``ModelLoadError``.

    Only the scoring sees numbers (``posts_from_frame`` converts); the echoed columns keep the
    caller's text, since a float round trip would print ``0.785`` as ``0.78500000000000003``.
    """
    posts = posts_from_frame(frame)
    loaded = load_model(model_dir)
    scored = frame.copy()
    scored[SCORE_COLUMN] = loaded.model.predict_proba(posts)
    scored["unknown_subreddit"] = loaded.model.features.unknown_subreddits(posts[CATEGORY_COLUMN])
    return scored


def write_atomically(scored: pd.DataFrame, output: Path) -> None:
    """Writes a hidden sibling, fsyncs it and renames it over ``output``: readers see the old
    file or the whole new one, never a prefix. A run killed mid-write leaves only the hidden
    ``.NAME.tmp``, which the next run overwrites."""
    staging = output.with_name(f".{output.name}.tmp")
    try:
        with staging.open("w", newline="", encoding="utf-8") as handle:
            scored.to_csv(handle, index=False, float_format="%.17g")
            handle.flush()
            os.fsync(handle.fileno())
        staging.replace(output)
    finally:
        staging.unlink(missing_ok=True)


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as error:
        raise SchemaError(f"input file {path} does not exist") from error
    except pd.errors.EmptyDataError as error:
        raise SchemaError(f"input file {path} is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise SchemaError(f"input file {path} is not a readable CSV: {error}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a posts CSV with the trained model.")
    parser.add_argument("--input", type=Path, required=True, help="posts CSV to score")
    parser.add_argument("--output", type=Path, required=True, help="where to write scores")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="model directory (default: $FEEDRANK_MODEL_DIR or models/)",
    )
    args = parser.parse_args(argv)
    model_dir = args.model_dir or model_dir_from_env()
    try:
        if args.output.resolve() == args.input.resolve():
            raise SchemaError("--output must differ from --input (the input is never overwritten)")
        scored = score_frame(_read(args.input), model_dir)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(scored, args.output)
    except (SchemaError, ModelLoadError) as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
