"""The five analysis notebooks and the report rendered from their metrics.

The end-to-end tests execute every notebook with papermill (small permutation/SHAP settings)
against a model trained by the real training code (the ``trained_artifacts`` fixture), with
metrics and figures redirected to a temp dir, then assert the numbers the notebooks wrote and
render ``evaluation_report.md`` from them. The unit tests at the bottom need no kernel.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from training import report
from training.report import derived, filters
from training.report.inputs import NOTEBOOK_METRICS, load_inputs
from training.results import MetricsError

KERNEL = "feedrank"
NOTEBOOKS = (
    "01_eda",
    "02_decay_fitting",
    "03_model_comparison",
    "04_ablation_importance",
    "05_calibration",
    "06_online_experiments",
)
# Small settings: the full run uses the notebooks' defaults.
SMALL_PARAMETERS: dict[str, dict[str, Any]] = {
    "03_model_comparison": {"n_random_orders": 20, "n_partitions": 20},
    "04_ablation_importance": {"n_repeats": 2, "sample_rows": 300, "refit_all_features": True},
    "06_online_experiments": {"sessions": 10_000, "repetitions": 100},
}
REQUIRED_SECTIONS = (
    "Summary",
    "Data, split and query groups",
    "What NDCG@10 and AUC-ROC capture",
    "Model comparison",
    "Time decay: choice of constant",
    "Feature groups and interactions",
    "Text signals",
    "Unknown subreddits",
    "Ablation and importance",
    "Calibration",
    "Online experiments",
    "Leakage prevention",
    "Overfitting mitigations",
    "Reproducibility",
)


@dataclass(frozen=True)
class Executed:
    metrics_dir: Path
    figures_dir: Path
    report_path: Path
    seconds: dict[str, float]

    def metrics(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.metrics_dir / f"{name}.json").read_text())
        return loaded


def _require_kernel() -> None:
    from jupyter_client.kernelspec import find_kernel_specs

    if KERNEL not in find_kernel_specs():
        pytest.fail(
            f"Jupyter kernel {KERNEL!r} is not installed; install it with "
            f"`.venv/bin/python -m ipykernel install --sys-prefix --name {KERNEL}`"
        )


@pytest.fixture(scope="module")
def executed(trained_artifacts: Any, tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """All five notebooks run once, in order, then the report rendered from their JSON."""
    import papermill

    _require_kernel()
    out = tmp_path_factory.mktemp("notebooks")
    metrics_dir, figures_dir = out / "metrics", out / "figures"
    metrics_dir.mkdir()
    # the notebooks read training.json and predictions.csv next to the JSON they write
    for name in ("training.json", "predictions.csv"):
        shutil.copyfile(Path(trained_artifacts.metrics_dir) / name, metrics_dir / name)
    common = {
        "data_path": str(trained_artifacts.data_path),
        "model_dir": str(trained_artifacts.model_dir),
        "metrics_dir": str(metrics_dir),
        "figures_dir": str(figures_dir),
        "seed": 7,
    }
    seconds: dict[str, float] = {}
    for notebook in NOTEBOOKS:
        start = time.perf_counter()
        papermill.execute_notebook(
            str(ROOT / "notebooks" / f"{notebook}.ipynb"),
            str(out / f"{notebook}.ipynb"),
            parameters={**common, **SMALL_PARAMETERS.get(notebook, {})},
            kernel_name=KERNEL,
            cwd=str(ROOT),
            execution_timeout=600,
            progress_bar=False,
        )
        seconds[notebook] = time.perf_counter() - start
    report_path = out / "evaluation_report.md"
    status = report.main(
        [
            "--metrics-dir",
            str(metrics_dir),
            "--figures-dir",
            str(figures_dir),
            "--output",
            str(report_path),
        ]
    )
    assert status == 0
    return Executed(metrics_dir, figures_dir, report_path, seconds)


@pytest.mark.e2e
def test_eda_finds_the_generators_signals_and_its_placebos(executed: Executed) -> None:
    eda = executed.metrics("eda")
    fields = eda["fields"]
    assert eda["rows"]["total"] == 50_000
    assert 0.45 < eda["engagement_rate"]["value"] < 0.58
    # age is the strongest signal and lowers engagement
    assert fields["post_age_hours"]["univariate_auc"] < 0.35
    assert fields["post_age_hours"]["spearman"] < -0.3
    assert fields["upvote_ratio"]["univariate_auc"] > 0.51
    # drawn independently of the label: nothing to find
    for placebo in ("author_karma", "title_words"):
        assert abs(fields[placebo]["univariate_auc"] - 0.5) < 0.01
        assert fields[placebo]["mann_whitney_p"] > 0.01
    assert eda["subreddit"]["p_value"] > 0.01
    assert eda["title_words"]["significant_after_bonferroni"] == 0
    assert eda["max_abs_field_correlation"] < 0.05


@pytest.mark.e2e
def test_decay_rate_matches_the_data_generating_process(executed: Executed) -> None:
    decay = executed.metrics("decay")
    rate = decay["chosen"]["rate_per_hour"]
    assert 0.040 < rate < 0.048
    assert 14.0 < decay["chosen"]["half_life_hours"] < 18.0
    # 0.05 / sqrt(1 + pi * 0.8**2 / 8)
    assert decay["theory"]["rate_per_hour"] == pytest.approx(0.04470, abs=1e-5)
    assert abs(decay["chosen_vs_theory_relative"]) < 0.10
    assert decay["regression"]["low"] < rate < decay["regression"]["high"]
    # a power law, Hacker News' included, fits this label worse than the decay on the odds
    assert (decay["winner"]["form"], decay["winner"]["placement"]) == ("exponential", "odds")
    assert decay["best_power"]["log_loss"] > decay["odds_decay"]["log_loss"]
    assert decay["hacker_news_power"]["log_loss"] > decay["best_power"]["log_loss"]
    # the same rate as an additive feature is clearly worse than on the odds
    assert decay["feature_at_chosen_rate"]["log_loss"] > decay["odds_decay"]["log_loss"] + 0.005
    # the profile's minimum is next to the chosen rate, the generator's raw 0.05 is not
    profile = decay["profile"]
    assert abs(profile["minimum_rate"] - rate) <= 0.0025
    marked = {m["key"]: m for m in profile["marked"]}
    assert marked["generator"]["delta_log_loss"] > 0 and not marked["generator"]["inside_ci"]
    assert 0.043 < decay["soft_label"]["rate_per_hour"] < 0.047


@pytest.mark.e2e
def test_model_comparison_metrics(executed: Executed) -> None:
    comparison = executed.metrics("model_comparison")
    deployed = comparison["deployed"]
    assert comparison["test_ndcg_reproduction_gap"] < 1e-9
    demo = comparison["slate_offset_demo"]
    assert demo["ndcg_after"] == pytest.approx(demo["ndcg_before"], abs=1e-12)
    assert demo["auc_after"] < demo["auc_before"] - 0.02
    assert 0.45 < comparison["random_ndcg_at_10"]["mean"] < 0.60
    assert comparison["headroom_captured"][deployed]["auc"] > 0.9
    for heuristic in ("reddit_hot", "hacker_news"):
        assert comparison["headroom_captured"][heuristic]["auc"] < 0.95
        # paired against the deployed model, the heuristics are worse beyond doubt
        assert comparison["paired"][heuristic]["auc"]["high"] < 0
    assert deployed not in comparison["paired"] or comparison["paired"][deployed]["auc"] == {
        "value": 0.0,
        "low": 0.0,
        "high": 0.0,
    }
    partitions = comparison["partitions"]
    assert partitions["count"] == 20
    assert partitions["models"][deployed]["difference"] == 0.0
    for row in partitions["models"].values():
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]


@pytest.mark.e2e
def test_importance_ranks_age_first(executed: Executed) -> None:
    importance = executed.metrics("importance")
    deployed = importance["deployed"]
    assert deployed["top_feature_permutation"] == "post_age_hours"
    assert deployed["top_feature_shap"] == "post_age_hours"
    assert deployed["explainer"] in ("LinearExplainer", "TreeExplainer")
    assert importance["params"] == {
        "n_repeats": 2,
        "sample_rows": 300,
        "validation_rows": 7501,
        "refit_all_features": True,
    }
    all_features = importance["all_features"]
    # refitting with the training code and seed reproduces the training run
    for difference in all_features["reproduction_max_abs_diff"].values():
        assert difference < 1e-6
    # shuffling text or subreddit costs (almost) nothing; shuffling the age-bearing groups does
    # the generator's logit is additive: no interaction term has a measurable coefficient
    interactions = {row["feature"]: row for row in importance["interactions"]}
    assert set(interactions) == {
        "score_x_upvote_ratio",
        "comment_velocity",
        "decayed_log_score",
        "comments_per_point",
    }
    assert interactions["comment_velocity"]["spearman"]["post_age_hours"] < -0.8
    for rows in all_features["group_permutation"].values():
        drop = {row["group"]: row["auc_drop"] for row in rows}
        assert max(drop["text"], drop["subreddit"]) < 0.005
        assert max(drop["raw"], drop["decay"]) > 0.01


@pytest.mark.e2e
def test_calibration_metrics(executed: Executed) -> None:
    calibration = executed.metrics("calibration")
    metrics = calibration["metrics"]
    assert calibration["test_reproduction_max_abs_diff"] < 1e-9
    # Platt is monotone: ranking metrics unchanged
    assert metrics["platt"]["auc"] == pytest.approx(metrics["uncalibrated"]["auc"], abs=1e-12)
    assert metrics["platt"]["ece"] < 0.03
    assert metrics["platt"]["brier"] - metrics["bayes_optimal"]["brier"] < 0.001
    # the calibrator is chosen out of fold on validation; the test split only measures it
    choice = calibration["choice"]
    assert set(choice["metrics"]) == {"uncalibrated", "platt", "isotonic"}
    assert choice["lower_log_loss"] in ("platt", "isotonic")
    assert "isotonic" not in metrics
    rows = {row["scores"]: row for row in calibration["decisions"]["rows"]}
    calibrated = rows["calibrated (Platt)"]
    overconfident = rows["overconfident (2 x log-odds)"]
    assert overconfident["auc"] == pytest.approx(calibrated["auc"], abs=1e-12)
    assert overconfident["ece"] > calibrated["ece"]
    gap = abs(calibrated["promised_hit_rate"] - calibrated["actual_hit_rate"])
    assert abs(overconfident["promised_hit_rate"] - overconfident["actual_hit_rate"]) > gap


@pytest.mark.e2e
def test_notebooks_write_their_figures(executed: Executed) -> None:
    for name in NOTEBOOK_METRICS:
        for figure in executed.metrics(name)["figures"].values():
            assert (executed.figures_dir / figure).stat().st_size > 10_000, figure


@pytest.mark.e2e
def test_report_has_every_section_and_no_placeholders(executed: Executed) -> None:
    content = executed.report_path.read_text()
    headings = re.findall(r"^## (.+)$", content, flags=re.MULTILINE)
    assert headings == list(REQUIRED_SECTIONS)
    assert not re.search(r"\bnan\b|\binf\b", content, flags=re.IGNORECASE)
    assert not re.search(r"\bNone\b|\{|\}", content)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", content)
    for link in links:
        assert not Path(link).is_absolute()
        assert (executed.report_path.parent / link).is_file(), link
    linked = {Path(link).name for link in links}
    for name in NOTEBOOK_METRICS:  # every notebook contributes at least one figure
        assert linked & set(executed.metrics(name)["figures"].values()), name
    assert "[deployed]" in content


# --------------------------------------------------------------------------------------------
# Unit tests: no kernel, no training run
# --------------------------------------------------------------------------------------------


def _score(groups: list[str], log_loss: float, se: float = 0.002) -> dict[str, Any]:
    return {
        "family": "logistic",
        "groups": groups,
        "log_loss": log_loss,
        "log_loss_se": se,
        "auc": 0.7,
        "ndcg_at_10": 0.7,
    }


@pytest.mark.e2e
def test_notebook_06_writes_its_metrics_and_figure(trained_artifacts: Any, tmp_path: Path) -> None:
    import papermill

    metrics_dir, figures_dir = tmp_path / "metrics", tmp_path / "figures"
    metrics_dir.mkdir()
    shutil.copyfile(
        Path(trained_artifacts.metrics_dir) / "training.json", metrics_dir / "training.json"
    )
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "06_online_experiments.ipynb"),
        str(tmp_path / "06.ipynb"),
        parameters={
            "data_path": str(trained_artifacts.data_path),
            "model_dir": str(trained_artifacts.model_dir),
            "metrics_dir": str(metrics_dir),
            "figures_dir": str(figures_dir),
            "sessions": 10_000,
            "repetitions": 100,
        },
        kernel_name="feedrank",
        cwd=str(ROOT),
        execution_timeout=600,
        progress_bar=False,
    )
    result = json.loads((metrics_dir / "online_experiments.json").read_text())
    # the champion beats Reddit hot, and interleaving needs fewer sessions to show it
    assert (
        result["interleaving"]["champion_win_rate"] > result["interleaving"]["challenger_win_rate"]
    )
    assert (
        result["ab"]["engagements_per_session"]["champion"]
        > (result["ab"]["engagements_per_session"]["challenger"])
    )
    # a noisy estimate (see the section's standard errors), but clearly above 1 at this size
    assert result["ab_to_interleaving_ratio"] > 1.2
    assert result["srm_example"]["p_value"] > 0.001
    assert (figures_dir / result["figures"]["power"]).stat().st_size > 10_000


def test_elimination_rounds_mirror_the_one_se_rule() -> None:
    full = ["raw", "decay", "interactions", "text", "subreddit"]
    trace = [_score(full, 0.6100)]
    # round 1: dropping text is cheapest and within one SE
    trace += [
        _score([g for g in full if g != held], 0.6100 + d)
        for held, d in (
            ("raw", 0.01),
            ("decay", 0.0002),
            ("interactions", 0.0003),
            ("text", -0.0001),
            ("subreddit", 0.0001),
        )
    ]
    kept = ["raw", "decay", "interactions", "subreddit"]
    # round 2: the cheapest drop costs more than one SE of the best seen, so stop
    trace += [_score([g for g in kept if g != held], 0.6130) for held in kept]
    training = {"elimination": trace, "deployed": {"groups": kept}}
    rounds = derived.elimination_rounds(training)
    assert [r.accepted for r in rounds] == [True, False]
    assert rounds[0].dropped == "text"
    assert rounds[0].threshold == pytest.approx(0.6099 + 0.002)
    with pytest.raises(MetricsError, match="deployed groups"):
        derived.elimination_rounds({"elimination": trace, "deployed": {"groups": ["raw"]}})


def test_formatters_never_print_nan_or_negative_zero() -> None:
    assert filters.num(0.123456) == "0.1235"
    assert filters.num(-0.00001) == "0.0000"
    assert filters.signed(-0.00001) == "0.0000"
    assert filters.signed(0.25, 2) == "+0.25"
    assert filters.pvalue(0.0) == "< 1e-300"
    assert filters.interval({"value": 0.01, "low": -0.002, "high": 0.02}, 3, sign=True) == (
        "+0.010 [-0.002, +0.020]"
    )
    for bad in (float("nan"), float("inf")):
        with pytest.raises(filters.FormatError, match="refusing to print a non-finite number"):
            filters.num(bad)


def test_no_analysis_fits_or_chooses_on_the_test_split() -> None:
    """What the report's split table claims, from what training and every notebook record:
    the test split is only measured."""
    inputs = load_inputs(ROOT / "reports" / "metrics", ROOT / "reports" / "figures", ROOT / "x.md")
    reads = derived.split_reads(inputs.training, inputs.notebooks)
    assert reads["test"]["choices"] == []
    assert reads["test"]["measures"] and reads["validation"]["choices"]
    assert all(inputs.notebooks[name]["reads"] for name in NOTEBOOK_METRICS)


def test_split_reads_refuse_an_unknown_split() -> None:
    training = {"reads": [{"analysis": "a", "split": "holdout", "choice": False}]}
    with pytest.raises(MetricsError, match="unknown splits: \\['holdout'\\]"):
        derived.split_reads(training, {})


def test_committed_report_is_the_render_of_the_committed_metrics() -> None:
    """evaluation_report.md is exactly what the template makes of reports/metrics/*.json."""
    inputs = load_inputs(ROOT / "reports" / "metrics", ROOT / "reports" / "figures", ROOT / "x.md")
    assert report.render(inputs) == (ROOT / "evaluation_report.md").read_text()


def test_a_missing_number_fails_the_render() -> None:
    """StrictUndefined: a key the template reads but the metrics lack is an error, not a blank."""
    import jinja2

    inputs = load_inputs(ROOT / "reports" / "metrics", ROOT / "reports" / "figures", ROOT / "x.md")
    del inputs.notebooks["decay"]["soft_label"]
    with pytest.raises(jinja2.UndefinedError, match="soft_label"):
        report.render(inputs)


def test_report_names_every_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = report.main(
        [
            "--metrics-dir",
            str(tmp_path),
            "--figures-dir",
            str(tmp_path),
            "--output",
            str(tmp_path / "report.md"),
        ]
    )
    assert status == 1
    error = capsys.readouterr().err
    for name in ("training.json", *(f"{n}.json" for n in NOTEBOOK_METRICS)):
        assert name in error
    assert not (tmp_path / "report.md").exists()
