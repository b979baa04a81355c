"""The documented batch command (``python -m training.predict``, the batch CLI's ``main``) never
writes into its input, however the output names it, and a failed run leaves a previous output
as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.support.files import hidden_leftovers
from training import predict as batch_cli

pytestmark = pytest.mark.faults


def _cli(input_path: Path, output: Path, model_dir: Path) -> int:
    return batch_cli.main(
        ["--input", str(input_path), "--output", str(output), "--model-dir", str(model_dir)]
    )


def test_batch_cli_refuses_an_output_that_is_its_input_by_another_name(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    pd.read_csv(canonical_csv, nrows=20).to_csv(source, index=False)
    original = source.read_bytes()
    (tmp_path / "link.csv").symlink_to(source)
    for alias in (tmp_path / "link.csv", tmp_path / "." / "sub" / ".." / "in.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert _cli(source, alias, api_model_dir) == 2
        assert "never overwritten" in capsys.readouterr().err
    assert source.read_bytes() == original


def test_batch_cli_replaces_a_hard_link_without_touching_the_input(
    api_model_dir: Path, canonical_csv: Path, tmp_path: Path
) -> None:
    """Even an output hard-linked to the input is safe: the CLI never writes in place."""
    source = tmp_path / "in.csv"
    pd.read_csv(canonical_csv, nrows=20).to_csv(source, index=False)
    original = source.read_bytes()
    os.link(source, tmp_path / "hard.csv")
    assert _cli(source, tmp_path / "hard.csv", api_model_dir) == 0
    assert source.read_bytes() == original
    assert "engagement_score" in (tmp_path / "hard.csv").read_text()


def test_failed_batch_run_leaves_a_previous_output_untouched(
    api_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("post_id,title\n1,hello\n")
    output = tmp_path / "scored.csv"
    output.write_text("yesterday's scores\n")
    assert _cli(bad, output, api_model_dir) == 2
    assert output.read_text() == "yesterday's scores\n"
    assert hidden_leftovers(tmp_path) == []
    capsys.readouterr()
