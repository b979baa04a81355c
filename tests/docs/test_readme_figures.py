"""Every result the README quotes in prose is the committed metrics JSON it comes from.

``evaluation_report.md`` is the render of ``reports/metrics/*.json`` (tests/docs/test_notebooks.py)
and the README's results table is rows of it (tests/docs/test_docs.py); the README's prose quotes
more figures than that table. Each is rebuilt here from the JSON with the precision the README
prints, so a hand-edited number, or a re-run pipeline whose results moved, fails until the
README says what the metrics say. Only committed files are read: nothing is trained.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support import ROOT
from training.metrics import SLATE_SIZE

METRICS = ROOT / "reports" / "metrics"
README = (ROOT / "README.md").read_text()
FLAT_README = " ".join(README.split())  # prose wraps at 100 columns anywhere


def metrics(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((METRICS / f"{name}.json").read_text())
    return loaded


def quoted_figures() -> dict[str, str]:
    """What the README must say, by claim, each rendered from the metrics."""
    training, decay = metrics("training"), metrics("decay")
    eda, calibration = metrics("eda")["fields"], metrics("calibration")["metrics"]
    test, gap = training["test"], training["gap_to_bayes"]
    deployed = training["deployed"]["name"]
    auc_gap, brier_gap = gap["auc_gap"]["value"], gap["brier_gap"]["value"]
    age_auc = eda["post_age_hours"]["univariate_auc"]
    score_weight = next(c for c in decay["coefficients"] if c["signal"] == "score")["generator"]
    ablation = {family: rows[0]["log_loss"] for family, rows in training["ablation"].items()}
    regression = decay["regression"]
    hot = test["reddit_hot"]
    base_rate = training["base_rate"]
    return {
        "headline gap": f"within **{auc_gap:.5f} AUC** and **{brier_gap:.5f} Brier** of the "
        "Bayes-optimal scorer",
        "age and score": f"age alone has a univariate AUC of {age_auc:.2f} (i.e. "
        f"{1 - age_auc:.2f} inverted); score is almost inert "
        f"({eda['score']['univariate_auc']:.4f}) because its weight is {score_weight:.5f} "
        "per point",
        "decay rate": f"**λ = {training['decay']['param']:.4f}/h, a half-life "
        f"of {training['decay']['half_life_hours']:.1f} h**",
        "decay theory": f"The generator's slope is {decay['generator']['age_weight']:g}, but the "
        f"Normal(0, {decay['generator']['noise_sd']:g}) noise",
        "decay interval": f"to {decay['theory']['rate_per_hour']:.4f}; the fitted rate's 95% "
        f"interval [{regression['low']:.4f}, {regression['high']:.4f}] contains it",
        "raw group": f"(removing it costs {ablation_se(training, 'raw'):+.1f} SE of log-loss)",
        "deployed set": f"The deployed set is `{'+'.join(training['deployed']['groups'])}`.",
        "LightGBM NDCG": "LightGBM with all groups reaches a slightly higher test NDCG@10 "
        f"({test['lightgbm_all_features']['ndcg_at_10']['value']:.4f})",
        "CV log-loss": f"Lower CV log-loss with all groups ({ablation['logistic']:.4f} vs "
        f"{ablation['lightgbm']:.4f}) and on the raw set",
        "Platt": f"(slope {training['calibrator']['slope']:.3f}, intercept "
        f"{training['calibrator']['intercept']:.4f})",
        "ECE": f"Test ECE is {calibration['uncalibrated']['ece']:.4f} before and "
        f"{calibration['platt']['ece']:.4f} after, the Bayes reference's is "
        f"{calibration['bayes_optimal']['ece']:.4f}",
        "test split": f"Test split, {training['split']['test']:,} posts, scored after every "
        "choice was made",
        "bootstrap": f"intervals, {training['bootstrap_draws']:,} draws; NDCG@10 averaged over "
        f"{training['split']['test'] // SLATE_SIZE} random slates of {SLATE_SIZE}",
        "gap interval": f"AUC {auc_gap:.5f}, Brier {brier_gap:.5f}; the paired-bootstrap "
        f"interval of the AUC gap is [{gap['auc_gap']['low']:.5f}, "
        f"{gap['auc_gap']['high']:.5f}]: no detectable gap, and "
        f"{training['split']['test']:,} test rows",
        "half-life in Scale": "the fitted half-life is "
        f"{training['decay']['half_life_hours']:.1f} h (`evaluation_report.md`)",
        "fallback cost": "Reddit hot, whose measured cost on this data is "
        f"{test[deployed]['auc']['value'] - hot['auc']['value']:.3f} AUC and "
        f"{test[deployed]['ndcg_at_10']['value'] - hot['ndcg_at_10']['value']:.3f} NDCG@10 "
        "below the model",
        "MDE": f"**0.5% relative, {100 * base_rate * 0.005:.2f} percentage points** on this "
        f"data's base rate of {base_rate:.4f}",
    }


def cv_log_loss(training: dict[str, Any], family: str, groups: list[str]) -> float:
    rows = [row for row in training["ablation"][family] if row["groups"] == groups]
    assert len(rows) == 1, f"no ablation row for {family} on {groups}"
    value: float = rows[0]["log_loss"]
    return value


def ablation_se(training: dict[str, Any], held_out: str) -> float:
    """The logistic family's CV log-loss change without ``held_out``, in the all-groups fit's
    standard errors (the report's ``delta_log_loss_se``)."""
    full = training["ablation"]["logistic"][0]
    without = [group for group in full["groups"] if group != held_out]
    return (cv_log_loss(training, "logistic", without) - full["log_loss"]) / full["log_loss_se"]


FIGURES = quoted_figures()


@pytest.mark.parametrize("claim", list(FIGURES))
def test_readme_quotes_the_metrics(claim: str) -> None:
    assert FIGURES[claim] in FLAT_README, f"README should say: {FIGURES[claim]}"


def test_readme_comparisons_hold_in_the_metrics() -> None:
    """The README's words for what the figures show: 'less than 0.4 SE', 'worse AUC, Brier and
    CV log-loss', 'its NDCG interval overlaps', 'and on the raw set', 'contains it'."""
    training, decay = metrics("training"), metrics("decay")
    others = [g for g in training["ablation"]["logistic"][0]["groups"] if g != "raw"]
    assert "each move log-loss by less than 0.4 SE" in FLAT_README
    assert all(abs(ablation_se(training, group)) < 0.4 for group in others), others
    deployed = training["test"][training["deployed"]["name"]]
    lightgbm = training["test"]["lightgbm_all_features"]
    assert "but worse AUC, Brier and CV log-loss; its NDCG interval overlaps" in FLAT_README
    assert lightgbm["auc"]["value"] < deployed["auc"]["value"]
    assert lightgbm["brier"]["value"] > deployed["brier"]["value"]
    full = training["ablation"]["logistic"][0]["groups"]
    assert cv_log_loss(training, "lightgbm", full) > cv_log_loss(training, "logistic", full)
    assert lightgbm["ndcg_at_10"]["low"] <= deployed["ndcg_at_10"]["high"]
    assert cv_log_loss(training, "logistic", ["raw"]) < cv_log_loss(training, "lightgbm", ["raw"])
    assert decay["regression"]["theory_inside_ci"]


def test_readme_pipeline_summary_is_what_run_pipeline_prints() -> None:
    """The README's sample ending of ``run_pipeline.sh``: its summary lines are what the
    script's summary step prints from the committed training.json."""
    script = (ROOT / "run_pipeline.sh").read_text()
    summary = re.search(r"\"\$PY\" - <<'EOF'\n(.*?)\nEOF\n", script, re.S)
    assert summary, "run_pipeline.sh has no summary step"
    printed = subprocess.run(
        [sys.executable, "-c", summary.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert len(printed.splitlines()) == 3, printed
    assert printed in README, printed
