"""Numbers derived from the metrics files: model names, ablation deltas, elimination rounds,
targets. The notebooks import the same helpers, so a table in a notebook and the same table in
the report come from one function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from features.transform import ALL_GROUPS, GROUP_FEATURES
from training.results import MetricsError

BAYES: Final = "bayes_optimal"
HEURISTICS: Final = ("reddit_hot", "hacker_news")
AUC_GAP_TARGET: Final = 0.0005
BRIER_GAP_TARGET: Final = 0.0003


def model_names(training: Mapping[str, Any]) -> list[str]:
    """Model names in table order: the Bayes ceiling, the trained models, the heuristics."""
    names = list(training["test"])
    trained = [n for n in names if n != BAYES and n not in HEURISTICS]
    return [*(n for n in names if n == BAYES), *trained, *(n for n in names if n in HEURISTICS)]


def trained_names(training: Mapping[str, Any]) -> list[str]:
    return [n for n in model_names(training) if n != BAYES and n not in HEURISTICS]


def model_label(name: str, training: Mapping[str, Any], mark_deployed: bool = True) -> str:
    """A readable row label: family, feature set and (for tables) which row is deployed."""
    deployed = training["deployed"]
    selected = "+".join(deployed["groups"])
    fixed = {
        BAYES: "Bayes-optimal reference (ceiling)",
        "reddit_hot": "Reddit hot (heuristic)",
        "hacker_news": "Hacker News gravity (heuristic)",
    }
    if name in fixed:
        return fixed[name]
    family, _, suffix = name.partition("_")
    family_label = {"logistic": "Logistic regression", "lightgbm": "LightGBM"}.get(family, family)
    groups = "all groups" if suffix == "all_features" else f"groups: {selected}"
    label = f"{family_label} ({groups})"
    return f"{label} [deployed]" if mark_deployed and name == deployed["name"] else label


def groups_label(groups: Sequence[str]) -> str:
    """``all groups``, ``without X`` or ``only X+Y`` relative to the full group set."""
    chosen = set(groups)
    missing = [g for g in ALL_GROUPS if g not in chosen]
    if not missing:
        return "all groups"
    if len(missing) == 1:
        return f"without {missing[0]}"
    return "only " + "+".join(g for g in ALL_GROUPS if g in chosen)


def ablation_rows(training: Mapping[str, Any], family: str) -> list[dict[str, Any]]:
    """Hold-one-group-out rows for one family, as differences from the all-groups fit.

    ``delta_log_loss_se`` is the log-loss change in units of the all-groups fit's standard
    error across CV folds: below 1 is indistinguishable from noise under the one-SE rule.
    """
    rows = training["ablation"][family]
    full = next((r for r in rows if set(r["groups"]) == set(ALL_GROUPS)), None)
    if full is None:
        raise MetricsError(f"ablation for {family} has no all-groups row")
    return [
        {
            "configuration": groups_label(r["groups"]),
            "groups": list(r["groups"]),
            "log_loss": r["log_loss"],
            "log_loss_se": r["log_loss_se"],
            "auc": r["auc"],
            "ndcg_at_10": r["ndcg_at_10"],
            "delta_log_loss": r["log_loss"] - full["log_loss"],
            "delta_log_loss_se": (r["log_loss"] - full["log_loss"]) / full["log_loss_se"],
            "delta_auc": r["auc"] - full["auc"],
            "delta_ndcg_at_10": r["ndcg_at_10"] - full["ndcg_at_10"],
        }
        for r in rows
    ]


def ablation_delta(training: Mapping[str, Any], family: str, held_out: str) -> dict[str, Any]:
    for row in ablation_rows(training, family):
        if row["configuration"] == f"without {held_out}":
            return row
    raise MetricsError(f"no 'without {held_out}' ablation row for {family}")


@dataclass(frozen=True)
class EliminationRound:
    """One round of backward elimination: the candidates tried and whether the best was kept."""

    number: int
    start: tuple[str, ...]
    trials: tuple[Mapping[str, Any], ...]
    best: Mapping[str, Any]
    threshold: float
    accepted: bool

    @property
    def dropped(self) -> str:
        return next(g for g in self.start if g not in self.best["groups"])


def elimination_rounds(training: Mapping[str, Any]) -> list[EliminationRound]:
    """Splits the flat elimination trace back into rounds, mirroring ``backward_elimination``.

    Each round tries dropping every remaining group; the cheapest drop is kept while its CV
    log-loss stays within one standard error of the best set seen so far. The reconstruction
    must end at the deployed groups, otherwise the trace and the deployment disagree.
    """
    trace = training["elimination"]
    current = tuple(trace[0]["groups"])
    position = 1
    rounds: list[EliminationRound] = []
    while position < len(trace) and len(current) > 1:
        trials = tuple(trace[position : position + len(current)])
        position += len(trials)
        best_seen = min(trace[:position], key=lambda score: score["log_loss"])
        best = min(trials, key=lambda score: score["log_loss"])
        threshold = best_seen["log_loss"] + best_seen["log_loss_se"]
        accepted = best["log_loss"] <= threshold
        rounds.append(EliminationRound(len(rounds) + 1, current, trials, best, threshold, accepted))
        if not accepted:
            break
        current = tuple(best["groups"])
    if set(current) != set(training["deployed"]["groups"]):
        raise MetricsError(
            f"elimination trace ends at {'+'.join(current)} but the deployed groups are "
            f"{'+'.join(training['deployed']['groups'])}"
        )
    return rounds


def cv_score(training: Mapping[str, Any], family: str, groups: Sequence[str]) -> dict[str, Any]:
    """The CV score of one family on one group set, from the ablation or elimination trace."""
    wanted = set(groups)
    for score in [*training["ablation"].get(family, []), *training["elimination"]]:
        if score["family"] == family and set(score["groups"]) == wanted:
            return dict(score)
    raise MetricsError(f"no CV score for {family} on {'+'.join(groups)} in training.json")


@dataclass(frozen=True)
class GapCheck:
    """One quality target: the deployed model's gap to the Bayes reference on test."""

    metric: str
    target: float
    gap: Mapping[str, Any]
    deployed: float
    reference: float

    @property
    def met(self) -> bool:
        return float(self.gap["value"]) <= self.target

    @property
    def interval_inside(self) -> bool:
        return float(self.gap["high"]) <= self.target


def gap_checks(training: Mapping[str, Any]) -> list[GapCheck]:
    """The targets: AUC within 0.0005 and Brier within 0.0003 of the reference, on test."""
    gap, test, deployed = training["gap_to_bayes"], training["test"], training["deployed"]["name"]
    return [
        GapCheck(
            "AUC-ROC",
            AUC_GAP_TARGET,
            gap["auc_gap"],
            test[deployed]["auc"]["value"],
            test[BAYES]["auc"]["value"],
        ),
        GapCheck(
            "Brier score",
            BRIER_GAP_TARGET,
            gap["brier_gap"],
            test[deployed]["brier"]["value"],
            test[BAYES]["brier"]["value"],
        ),
    ]


def feature_rows() -> list[dict[str, str]]:
    """One row per feature for the feature table; the hashed n-gram buckets share one row."""
    rows = []
    for group in ALL_GROUPS:
        names = GROUP_FEATURES[group]
        hashed = [n for n in names if n.startswith("title_hash_")]
        for name in names:
            if name in hashed[1:]:
                continue
            shown = (
                f"`{hashed[0]}` … `{hashed[-1]}` ({len(hashed)} buckets)"
                if name in hashed
                else f"`{name}`"
            )
            rows.append({"group": group if name == names[0] else "", "key": name, "shown": shown})
    return rows


def group_row(rows: Sequence[Mapping[str, Any]], group: str) -> Mapping[str, Any]:
    for row in rows:
        if row["group"] == group:
            return row
    raise MetricsError(f"no permutation-importance row for group {group}")


def _contains_zero(low: float, high: float) -> bool:
    return low <= 0.0 <= high


def paired_summary(training: Mapping[str, Any], comparison: Mapping[str, Any]) -> dict[str, Any]:
    """Which models the paired comparison with the deployed model can and cannot separate."""
    deployed = training["deployed"]["name"]
    trained = trained_names(training)
    paired, partitions = comparison["paired"], comparison["partitions"]["models"]
    ndcg = {name: training["test"][name]["ndcg_at_10"]["value"] for name in trained}

    def separable(name: str) -> bool:
        auc, part = paired[name]["auc"], partitions[name]
        return not (
            _contains_zero(auc["low"], auc["high"])
            and _contains_zero(part["difference_low"], part["difference_high"])
        )

    others = [name for name in trained if name != deployed]
    return {
        "others": others,
        "indistinguishable": [name for name in others if not separable(name)],
        "reaching_bayes": [n for n in trained if comparison["interval_reaches_bayes"][n]],
        "heuristics_worse": [
            h
            for h in HEURISTICS
            if h in paired and paired[h]["auc"]["high"] < 0 and partitions[h]["difference_high"] < 0
        ],
        "luckiest": max(others, key=lambda name: paired[name]["ndcg_at_10"]["value"]),
        "above_bayes_fixed": [
            n for n in trained if ndcg[n] > training["test"][BAYES]["ndcg_at_10"]["value"]
        ],
        "above_bayes_on_average": [
            n for n in trained if partitions[n]["mean"] > partitions[BAYES]["mean"]
        ],
    }


SPLITS: Final = ("train", "validation", "test")


def split_reads(
    training: Mapping[str, Any], notebooks: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, list[str]]]:
    """What reads each split, from the ``reads`` lists training and every notebook write:
    per split, the analyses that fit or choose something there and those that only measure."""
    reads = [*training["reads"], *(r for notebook in notebooks.values() for r in notebook["reads"])]
    unknown = sorted({r["split"] for r in reads} - set(SPLITS))
    if unknown:
        raise MetricsError(f"analyses read unknown splits: {unknown}")
    return {
        split: {
            kind: [r["analysis"] for r in reads if r["split"] == split and r["choice"] == choice]
            for kind, choice in (("choices", True), ("measures", False))
        }
        for split in SPLITS
    }
