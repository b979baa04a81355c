"""Renders ``evaluation_report.md`` from the metrics JSON: ``python -m training.report``.

Why a renderer and not a hand-written report: every number in the report is read from
``reports/metrics/*.json`` (``training.json`` from ``training.train``, one file per notebook), so
re-running the pipeline can never leave a stale figure in the prose. The prose lives in
``training/templates/evaluation_report.md.j2`` (one include per section); Python loads the
files (``inputs``), derives numbers (``derived``) and formats them (``filters``). The template
is rendered with ``StrictUndefined``: a number missing from the metrics fails the render.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Final

import jinja2

from training.report.filters import FILTERS, FormatError
from training.report.inputs import Inputs, context, load_inputs
from training.results import MetricsError

ROOT: Final = Path(__file__).resolve().parent.parent.parent
TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE: Final = "evaluation_report.md.j2"
# (heading, template under training/templates/sections/)
SECTIONS: Final = (
    ("Summary", "summary"),
    ("Data, split and query groups", "data"),
    ("What NDCG@10 and AUC-ROC capture", "metrics"),
    ("Model comparison", "comparison"),
    ("Time decay: choice of constant", "decay"),
    ("Feature groups and interactions", "features"),
    ("Text signals", "text"),
    ("Unknown subreddits", "unknown"),
    ("Ablation and importance", "importance"),
    ("Calibration", "calibration"),
    ("Online experiments", "online"),
    ("Leakage prevention", "leakage"),
    ("Overfitting mitigations", "overfitting"),
    ("Reproducibility", "reproducibility"),
)


def environment() -> jinja2.Environment:
    """Markdown, not HTML: no autoescaping; block tags leave no blank lines behind."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def render(inputs: Inputs) -> str:
    """The whole report as markdown, one line per paragraph, list item or table row.

    The template wraps prose at 100 columns and marks a continuation by indenting it; joining
    those lines here keeps the template readable and the markdown free of accidental syntax (a
    wrapped line that happened to start with "-0.3" would otherwise become a list item).
    """
    content = environment().get_template(TEMPLATE).render(context(inputs), sections=SECTIONS)
    content = re.sub(r"\n {2,}", " ", content)
    content = re.sub(r"(?<=\S) {2,}(?=\S)", " ", content)
    content = re.sub(r"\n{3,}", "\n\n", content)
    return content.strip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "reports" / "metrics")
    parser.add_argument("--figures-dir", type=Path, default=ROOT / "reports" / "figures")
    parser.add_argument("--output", type=Path, default=ROOT / "evaluation_report.md")
    args = parser.parse_args(argv)
    try:
        content = render(load_inputs(args.metrics_dir, args.figures_dir, args.output))
    except (MetricsError, FormatError, jinja2.TemplateError, KeyError, TypeError) as error:
        print(f"training.report: {error!r}", file=sys.stderr)  # noqa: T201
        return 1
    staging = args.output.with_name(f".{args.output.name}.tmp")
    staging.write_text(content)
    staging.replace(args.output)
    print(f"wrote {args.output}")  # noqa: T201
    return 0
