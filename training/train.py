"""Train, select, calibrate, evaluate and save the deployable model: ``python -m training.train``.

Stages (each logged with its elapsed time):
1. load and validate ``data/posts.csv``; fixed stratified train / validation / test split;
2. fit the decay curve by 5-fold CV on train (``training.decay``);
3. ablation per model family and backward elimination of feature groups by CV on train, each
   fold fitting its own decay curve on its fit rows;
4. fit the candidates on train, Platt calibrators on validation;
5. score validation (family comparison), then test (final table, gap to Bayes) with every choice
   already made: nothing computed on test is read back;
6. write ``models/`` (bundle + metadata) and ``reports/metrics/`` (JSON + predictions CSV).

``--family F --groups G --model-dir DIR`` instead fits that one candidate without selection (a
challenger for a rollout, see SERVING.md) and writes only its verified bundle to ``DIR``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from bundle.scoring import FAMILIES, Family, RankingModel, sigmoid
from bundle.store import load_model, save_model, sha256_file
from features.schema import CATEGORY_COLUMN
from features.transform import ALL_GROUPS, Group
from training import evaluate, metrics
from training.artifacts import PREDICTIONS, training_metadata, write_predictions
from training.candidates import BAYES, Candidates, fit_candidate, fit_candidates
from training.data import SEED, Dataset, load_dataset
from training.decay import DecayChoice, select_decay
from training.results import TRAINING, write_metrics
from training.selection import Selection, select_model

ROOT: Final = Path(__file__).resolve().parent.parent
# What this run reads from each split, and whether it fits or chooses anything there; each
# notebook's JSON lists its own, and the report renders them as one table.
READS: Final = (
    {"analysis": "every fitted transform and model", "split": "train", "choice": True},
    {
        "analysis": "decay curve, model family and feature groups (5-fold CV)",
        "split": "train",
        "choice": True,
    },
    {"analysis": "Platt calibrators", "split": "validation", "choice": True},
    {"analysis": "comparison table", "split": "validation", "choice": False},
    {
        "analysis": "final table, NDCG@10 by subreddit, gap to Bayes",
        "split": "test",
        "choice": False,
    },
)

log = logging.getLogger("feedrank.train")


@contextmanager
def stage(name: str) -> Iterator[None]:
    start = time.perf_counter()
    log.info("%s ...", name)
    yield
    log.info("%s done in %.1f s", name, time.perf_counter() - start)


@dataclass(frozen=True)
class FinalEvaluation:
    """The one use of the test split: every candidate's calibrated probabilities and metric
    table, the deployed model's gap to Bayes, its calibration and its NDCG per subreddit."""

    probabilities: dict[str, np.ndarray]
    table: dict[str, dict[str, Any]]
    gap: dict[str, Any]
    calibration: dict[str, Any]
    by_subreddit: dict[str, dict[str, float]]


def evaluate_on_test(candidates: Candidates, family: str, draws: int, seed: int) -> FinalEvaluation:
    dataset = candidates.dataset
    y_test, test_posts = dataset.y[dataset.split.test], dataset.part("test")
    test_p = candidates.probabilities("test", calibrated=True)
    uncalibrated = sigmoid(candidates.models[family].log_odds(test_posts))
    stages = (("before", uncalibrated), ("after", test_p[family]), (BAYES, test_p[BAYES]))
    return FinalEvaluation(
        probabilities=test_p,
        table=evaluate.metric_table(y_test, test_p, draws, seed),
        gap=evaluate.gap_to_reference(y_test, test_p[family], test_p[BAYES], draws, seed),
        calibration={name: evaluate.calibration_summary(y_test, p) for name, p in stages},
        by_subreddit=evaluate.per_group_ndcg(y_test, test_posts[CATEGORY_COLUMN], test_p, seed),
    )


def training_summary(
    decay: DecayChoice,
    selection: Selection,
    validation_table: dict[str, dict[str, Any]],
    test: FinalEvaluation,
    deployed: RankingModel,
    run_facts: dict[str, Any],
) -> dict[str, Any]:
    """``training.json``: ``run_facts`` (version, split sizes, draws, seed, base rate, data
    checksum) around the stages' results."""
    family = selection.family
    return {
        "model_version": run_facts["model_version"],
        "deployed": {"family": family, "groups": list(selection.groups), "name": family},
        "decay": {**decay.as_dict(), "cv_folds": selection.fold_decays},
        "ablation": {f: [s.as_dict() for s in scores] for f, scores in selection.ablations.items()},
        "elimination": [score.as_dict() for score in selection.elimination],
        "validation": validation_table,
        "test": test.table,
        "gap_to_bayes": test.gap,
        "calibration": test.calibration,
        "calibrator": {
            "slope": deployed.calibrator.slope,
            "intercept": deployed.calibrator.intercept,
        },
        "ndcg_by_subreddit": test.by_subreddit,
        **{key: value for key, value in run_facts.items() if key != "model_version"},
    }


def run(
    data_path: Path,
    model_dir: Path,
    metrics_dir: Path,
    seed: int = SEED,
    draws: int = 1000,
    canonical: bool = True,
    feature_store: Path | None = None,
) -> dict[str, Any]:
    """Runs every stage and returns the metrics written to ``training.json``."""
    with stage("load + split"):
        dataset = load_dataset(data_path, seed, canonical, feature_store)
        _log_split(dataset)
    train_posts, y_train = dataset.part("train"), dataset.y[dataset.split.train]
    with stage("decay sweep (5-fold CV on train)"):
        decay = select_decay(train_posts, y_train, seed)
        _log_decay(decay)
    with stage("ablation + feature selection (5-fold CV on train)"):
        selection = select_model(train_posts, y_train, seed)
        _log_selection(selection)
    with stage("fit candidates on train, calibrate on validation"):
        candidates = fit_candidates(dataset, selection.groups, decay.spec, seed)
    with stage("validation table"):
        validation_p = candidates.probabilities("validation", calibrated=False)
        y_validation = dataset.y[dataset.split.validation]
        validation_table = evaluate.metric_table(y_validation, validation_p, draws, seed)
    with stage("test table (every choice is made: measurement only)"):
        test = evaluate_on_test(candidates, selection.family, draws, seed)
        _log_test(test, selection.family)
    with stage("write artifacts and metrics"):
        deployed = candidates.models[selection.family]
        provenance = (sha256_file(data_path), seed)
        deployed_metrics = {
            "test": test.table[selection.family],
            "gap_to_bayes": test.gap,
            "cv_log_loss": selection.elimination[-1].log_loss,
        }
        metadata = training_metadata(
            deployed, dataset, selection.groups, decay.spec, provenance, deployed_metrics
        )
        facts = _run_facts(dataset, metadata["model_version"], provenance, draws)
        summary = training_summary(decay, selection, validation_table, test, deployed, facts)
        save_model(deployed, metadata, model_dir)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        write_metrics(metrics_dir, TRAINING, summary)
        write_predictions(dataset, validation_p, test.probabilities, metrics_dir / PREDICTIONS)
    return summary


def _run_facts(
    dataset: Dataset, version: str, provenance: tuple[str, int], draws: int
) -> dict[str, Any]:
    data_sha, seed = provenance
    return {
        "model_version": version,
        "split": {
            name: len(getattr(dataset.split, name)) for name in ("train", "validation", "test")
        },
        "bootstrap_draws": draws,
        "reads": READS,
        "seed": seed,
        "base_rate": float(dataset.y.mean()),
        "training_data_sha256": data_sha,
    }


def _log_split(dataset: Dataset) -> None:
    split = dataset.split
    log.info(
        "rows: train %d, validation %d, test %d; engagement rate %.3f",
        len(split.train),
        len(split.validation),
        len(split.test),
        dataset.y.mean(),
    )


def _log_decay(decay: DecayChoice) -> None:
    log.info(
        "decay: %s on the %s, rate %.5g/h (half-life %.1f h)",
        decay.spec.form,
        decay.placement,
        decay.spec.param,
        decay.spec.half_life_hours,
    )


def _log_selection(selection: Selection) -> None:
    spread = selection.fold_decays
    log.info(
        "decay inside the folds: %s, rate %.5g..%.5g/h (sd %.2g)",
        spread["form"],
        spread["param_min"],
        spread["param_max"],
        spread["param_sd"],
    )
    log.info("deployed: %s on groups %s", selection.family, "+".join(selection.groups))


def _log_test(test: FinalEvaluation, family: str) -> None:
    log.info(
        "test: AUC %.4f (Bayes %.4f, gap %.5f), Brier %.5f (gap %.5f)",
        test.table[family]["auc"]["value"],
        test.table[BAYES]["auc"]["value"],
        test.gap["auc_gap"]["value"],
        test.table[family]["brier"]["value"],
        test.gap["brier_gap"]["value"],
    )


def train_candidate(
    data_path: Path, model_dir: Path, family: Family, groups: tuple[Group, ...], seed: int = SEED
) -> str:
    """Fits one family on ``groups`` (decay constant fitted as in ``run``, no selection), saves
    and re-loads its bundle (checksum and self-check), and returns its version."""
    dataset = load_dataset(data_path, seed)
    train_posts, y_train = dataset.part("train"), dataset.y[dataset.split.train]
    decay = select_decay(train_posts, y_train, seed).spec
    model = fit_candidate(dataset, family, groups, decay, seed)
    y_validation = dataset.y[dataset.split.validation]
    p_validation = model.predict_proba(dataset.part("validation"))
    validation = {
        "auc": metrics.auc(y_validation, p_validation),
        "log_loss": metrics.log_loss(y_validation, p_validation),
        "brier": metrics.brier(y_validation, p_validation),
    }
    provenance = (sha256_file(data_path), seed)
    metadata = training_metadata(
        model, dataset, groups, decay, provenance, metrics={"validation": validation}
    )
    save_model(model, metadata, model_dir)
    return load_model(model_dir).version


def _groups(value: str) -> tuple[Group, ...]:
    names = ALL_GROUPS if value == "all" else tuple(value.split(","))
    unknown = [name for name in names if name not in ALL_GROUPS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use 'all' or a comma-separated subset of {','.join(ALL_GROUPS)}"
        )
    return tuple(group for group in ALL_GROUPS if group in names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "posts.csv")
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "reports" / "metrics")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws")
    parser.add_argument("--family", choices=FAMILIES, help="fit only this family (no selection)")
    parser.add_argument("--groups", type=_groups, default=ALL_GROUPS, help="all | raw,decay,...")
    parser.add_argument(
        "--feature-store",
        type=Path,
        default=None,
        help="a feature_store.yaml: features from its offline store (default: the CSV)",
    )
    args = parser.parse_args(argv)
    if args.family is not None and args.model_dir is None:
        parser.error("--family needs --model-dir (the deployed models/ is not overwritten)")
    if args.family is None and args.groups != ALL_GROUPS:
        parser.error("--groups applies only with --family (the default run selects groups)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start = time.perf_counter()
    if args.family is not None:
        version = train_candidate(args.data, args.model_dir, args.family, args.groups, args.seed)
        log.info("wrote and verified %s in %s", version, args.model_dir)
    else:
        run(
            args.data,
            args.model_dir or ROOT / "models",
            args.metrics_dir,
            args.seed,
            args.bootstrap,
            feature_store=args.feature_store,
        )
    log.info("training finished in %.1f s", time.perf_counter() - start)


if __name__ == "__main__":
    main()
