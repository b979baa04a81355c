"""Per-stage timings of the /rank request path, without HTTP: ``python -m serving.profile``.

Runs ``Ranker.rank_body`` (exactly what the route calls) on slates of 1, 10 and 20 posts and
prints the median time of each stage (validate, featurise, predict, serialise) in
microseconds, so a regression can be pinned to a stage rather than to "the server".
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

from bundle.store import ModelLoadError
from serving.config import Settings
from serving.model import STAGES, Ranker
from serving.payloads import DEFAULT_DATA, load_posts, slate_body

SLATE_SIZES = (1, 10, 20)
WARMUP = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="default: $FEEDRANK_MODEL_DIR or models/"
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="posts to sample slates from"
    )
    parser.add_argument("--repeat", type=int, default=2000, help="timed calls per slate size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model_dir = args.model_dir or Settings.from_env().model_dir
    try:
        ranker = Ranker.load(model_dir)
    except ModelLoadError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    posts = load_posts(args.data, seed=args.seed)
    rng = random.Random(args.seed)
    _emit(
        f"model {ranker.version} ({ranker.model.family}); {args.repeat} calls per size; "
        "median microseconds per stage"
    )
    header = f"{'posts':>5} " + " ".join(f"{stage:>10}" for stage in STAGES)
    _emit(header + f" {'total':>10} {'total p95':>10}")
    for size in SLATE_SIZES:
        bodies = [slate_body(posts, size, rng) for _ in range(64)]
        for index in range(WARMUP):
            ranker.rank_body(bodies[index % len(bodies)])
        samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
        totals: list[float] = []
        for index in range(args.repeat):
            timings = ranker.rank_body(bodies[index % len(bodies)]).timings.as_dict()
            for stage, seconds in timings.items():
                samples[stage].append(seconds * 1e6)
            totals.append(sum(timings.values()) * 1e6)
        medians = " ".join(f"{statistics.median(samples[stage]):>10.1f}" for stage in STAGES)
        p95 = statistics.quantiles(totals, n=20)[-1]
        _emit(f"{size:>5} {medians} {statistics.median(totals):>10.1f} {p95:>10.1f}")
    return 0


def _emit(line: str) -> None:
    """This module is a CLI: its table is its output."""
    sys.stdout.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
