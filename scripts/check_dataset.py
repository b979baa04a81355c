"""Validates ``generate_dataset.py``'s output before anything trains on it.

    python -m scripts.check_dataset [data/posts.csv]

``generate_dataset.py`` is the verbatim assignment script and writes its CSV in place, so a run
that was killed can leave a truncated file behind. This check, run by ``run_pipeline.sh`` right
after the generator, refuses such a file (and any other) unless:

- the header is exactly the training schema, in order (``features.schema.TRAINING_COLUMNS``);
- every value parses and lies inside its physical bounds, and ``engaged`` is 0 or 1
  (``features.io.read_posts_csv``, the reader training and batch scoring use);
- there are exactly 50,000 rows with unique ``post_id``s and an engagement rate in the
  generator's band (``training.data.check_canonical``, which training applies again itself).

Prints one summary line and exits 0, or prints one line naming the problem and exits 2.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path
from typing import Final

from features.schema import LABEL_COLUMN, TRAINING_COLUMNS, SchemaError
from training.data import load_dataset

DEFAULT_PATH: Final = Path("data/posts.csv")
EXIT_INVALID: Final = 2


def check(path: Path) -> str:
    """Returns a one-line summary of a valid dataset; raises ``SchemaError`` otherwise."""
    if not path.is_file() or path.stat().st_size == 0:
        raise SchemaError(f"{path} is missing or empty (run generate_dataset.py)")
    with path.open(newline="", encoding="utf-8") as handle:
        try:
            header = next(csv.reader(handle), [])
        except (UnicodeDecodeError, csv.Error) as error:
            raise SchemaError(f"{path} has an unreadable header: {error}") from error
    if tuple(header) != TRAINING_COLUMNS:
        raise SchemaError(
            f"{path} header is {','.join(header)!r}, expected {','.join(TRAINING_COLUMNS)!r}"
        )
    if not path.read_bytes().endswith(b"\n"):
        raise SchemaError(f"{path} does not end with a newline: the writer was interrupted")
    dataset = load_dataset(path)  # bounds, types, label, 50,000 rows, unique ids, base rate
    rows = len(dataset.y)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rate = float(dataset.posts[LABEL_COLUMN].mean())
    return f"{path}: {rows:,} rows, schema ok, engagement rate {rate:.3f}, sha256 {digest[:12]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, nargs="?", default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    try:
        summary = check(args.path)
    except (SchemaError, OSError) as error:
        sys.stderr.write(f"dataset check failed: {error}\n")
        return EXIT_INVALID
    sys.stdout.write(summary + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
