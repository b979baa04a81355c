"""``python -m scripts.container_train --model-dir DIR``: the image's model, without reselection.

The pipeline's selection (decay sweep, ablation, backward elimination) ran once on the canonical
data, and ``reports/metrics/training.json`` records the family and feature groups it deployed.
The image's train stage refits that one configuration with the recorded seed on the same data,
and the build fails unless the bundle's version equals the recorded ``model_version``: the
image then serves the model that the committed report evaluates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Final

from bundle.store import load_model
from training.train import main as train

ROOT: Final = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "posts.csv")
    parser.add_argument(
        "--summary", type=Path, default=ROOT / "reports" / "metrics" / "training.json"
    )
    args = parser.parse_args(argv)
    summary = json.loads(args.summary.read_text())
    deployed = summary["deployed"]
    train(
        [
            "--data", str(args.data),
            "--family", deployed["family"],
            "--groups", ",".join(deployed["groups"]),
            "--seed", str(summary["seed"]),
            "--model-dir", str(args.model_dir),
        ]
    )  # fmt: skip
    version = load_model(args.model_dir).version
    if version != summary["model_version"]:
        sys.stderr.write(
            f"error: fitted {version}, but {args.summary.name} records "
            f"{summary['model_version']}: the data, the code or the seed differ\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
