"""Batch scoring: ``python -m training.predict --input posts.csv --output scored.csv``.

The documented command; the engines live in ``batch`` (see ``batch.cli`` for the options,
including ``--engine spark``).
"""

from __future__ import annotations

import sys

from batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
