"""``python -m batch --input PATH --output PATH [--engine local|spark]``.

Scores a posts file (CSV, or Parquet when the path ends in ``.parquet``; ``engaged`` optional)
with the saved bundle. The output has the input's columns as read, in input order, plus
``engagement_score`` and ``unknown_subreddit``; its format also follows its suffix. The local
engine writes one file; Spark writes a directory of parts, as Spark does. Either way the output
appears whole or not at all, and the input is never overwritten. Bad input ends with one line on
stderr and exit status 2 (3 when the engine cannot run here: Spark without Java).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from batch.frames import EngineUnavailable, check_distinct
from batch.local import DEFAULT_CHUNK_ROWS, score_file
from bundle.store import ModelLoadError, load_model, model_dir_from_env
from features.schema import SchemaError

EXIT_BAD_INPUT: Final = 2
EXIT_NO_ENGINE: Final = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m batch", description="Score a posts file with the saved model."
    )
    parser.add_argument("--input", required=True, help="posts CSV, or Parquet (*.parquet)")
    parser.add_argument("--output", required=True, help="scores: CSV, or Parquet (*.parquet)")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="bundle directory (default: $FEEDRANK_MODEL_DIR or models/)",
    )
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"local engine: rows held in memory at once (default {DEFAULT_CHUNK_ROWS:,})",
    )
    parser.add_argument(
        "--master",
        default=None,
        help="spark engine: master URL (default: spark-submit's --master, else local[*])",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model_dir: Path = args.model_dir or model_dir_from_env()
    try:
        check_distinct(args.input, args.output)
        if args.engine == "spark":
            from batch.spark import run  # imports pyspark, which the local engine never needs

            run(args.input, args.output, model_dir, args.master)
        else:
            model = load_model(model_dir).model
            output = Path(args.output)
            output.parent.mkdir(parents=True, exist_ok=True)
            score_file(Path(args.input), output, model, args.chunk_rows)
    except (SchemaError, ModelLoadError) as error:
        _one_line(error)
        return EXIT_BAD_INPUT
    except EngineUnavailable as error:
        _one_line(error)
        return EXIT_NO_ENGINE
    return 0


def _one_line(error: Exception) -> None:
    # one line even when a library's message spans several (pandas' tokenizer ends in one)
    line = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    sys.stderr.write(f"error: {line}\n")


if __name__ == "__main__":
    sys.exit(main())
