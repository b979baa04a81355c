"""The experiment readout (``training.readout``): the sample-ratio-mismatch check, the minimum
detectable effect and the command line."""

from __future__ import annotations

import logging

import pytest

from training import readout


def test_srm_flags_a_mismatch_and_passes_a_fair_split() -> None:
    assert not readout.srm(50_210, 49_790, 0.5).mismatch
    assert readout.srm(50_900, 49_100, 0.5).mismatch
    # 5% ramp: 5,000 of 100,000 expected
    assert readout.srm(95_000, 5_000, 0.05).p_value == pytest.approx(1.0, abs=1e-12)
    assert readout.srm(95_300, 4_700, 0.05).mismatch


def test_mde_matches_the_sizing_of_experiment_design() -> None:
    from training.experiment_design import ONE_TRIAL, users_per_arm

    n = users_per_arm(0.5125, 0.02, readout.ALPHA, readout.POWER, ONE_TRIAL)
    assert readout.mde(0.5125, n, n) == pytest.approx(0.5125 * 0.02, rel=1e-3)


def test_readout_cli(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="feedrank.readout")
    assert readout.main(["--users", "50900,49100", "--share", "0.5"]) == 1
    assert "MISMATCH" in caplog.text
    assert (
        readout.main(["--users", "50210,49790", "--share", "0.5", "--engaged", "25730,25810"]) == 0
    )
    assert "lift +0.0059" in caplog.text
