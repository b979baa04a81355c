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
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from bundle import drift
from bundle.scoring import FAMILIES, Family, RankingModel, sigmoid
from bundle.store import bundle_metadata, load_model, save_model, sha256_file
from features.fit import fit_features
from features.schema import CATEGORY_COLUMN, ID_COLUMN, take
from features.transform import ALL_GROUPS, Group
from features.transforms import DecaySpec
from training import baselines, evaluate, metrics
from training.data import SEED, Dataset, load_dataset
from training.decay import choose_decay, fold_spread, sweep_decay
from training.models import fit_family, fit_platt
from training.results import TRAINING, write_metrics
from training.selection import ablation, backward_elimination, build_fold_matrices

ROOT: Final = Path(__file__).resolve().parent.parent
PREDICTIONS: Final = "predictions.csv"
BAYES: Final = "bayes_optimal"
SELF_CHECK_ROWS: Final = 8
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


def fit_candidate(
    dataset: Dataset, family: Family, groups: tuple[Group, ...], decay: DecaySpec, seed: int
) -> RankingModel:
    """Features and estimator fitted on train; Platt calibrator fitted on validation."""
    y = dataset.y
    features, matrix = fit_features(
        dataset.part("train"), y[dataset.split.train], groups, decay, seed
    )
    estimator = fit_family(family, matrix, y[dataset.split.train], seed)
    validation_log_odds = estimator.decision_function(
        features.transform(dataset.part("validation"))
    )
    calibrator = fit_platt(validation_log_odds, y[dataset.split.validation])
    return RankingModel(family, features, estimator, calibrator)


def heuristic_scores(posts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "reddit_hot": baselines.reddit_hot_score(posts),
        "hacker_news": baselines.hacker_news_score(posts),
    }


def _standardised(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    result: np.ndarray = (values - reference.mean()) / reference.std()
    return result


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
        y = dataset.y
        split = dataset.split
        train_posts, y_train = dataset.part("train"), y[split.train]
        log.info(
            "rows: train %d, validation %d, test %d; engagement rate %.3f",
            len(split.train),
            len(split.validation),
            len(split.test),
            y.mean(),
        )

    with stage("decay sweep (5-fold CV on train)"):
        decay_scores = sweep_decay(train_posts, y_train, seed)
        decay = choose_decay(decay_scores, train_posts, y_train, seed)
        winner = min(decay_scores, key=lambda score: score.log_loss)
        log.info(
            "decay: %s on the %s, rate %.5g/h (half-life %.1f h)",
            decay.form,
            winner.placement,
            decay.param,
            decay.half_life_hours,
        )

    with stage("ablation + feature selection (5-fold CV on train)"):
        matrices = build_fold_matrices(train_posts, y_train, seed)
        spread = fold_spread(matrices.decays)
        log.info(
            "decay inside the folds: %s, rate %.5g..%.5g/h (sd %.2g)",
            spread["form"],
            spread["param_min"],
            spread["param_max"],
            spread["param_sd"],
        )
        ablations = {family: ablation(matrices, family, seed) for family in FAMILIES}
        family = min(FAMILIES, key=lambda f: ablations[f][0].log_loss)
        groups, elimination = backward_elimination(matrices, family, seed)
        log.info("deployed: %s on groups %s", family, "+".join(groups))

    with stage("fit candidates on train, calibrate on validation"):
        models: dict[str, RankingModel] = {}
        for candidate_family in FAMILIES:
            models[candidate_family] = fit_candidate(dataset, candidate_family, groups, decay, seed)
            models[f"{candidate_family}_all_features"] = fit_candidate(
                dataset, candidate_family, ALL_GROUPS, decay, seed
            )
        deployed = models[family]
        heuristic_calibrators = {
            name: fit_platt(_standardised(score, score), y[split.validation])
            for name, score in heuristic_scores(dataset.part("validation")).items()
        }

    def probabilities(part: str, calibrated: bool) -> dict[str, np.ndarray]:
        posts = dataset.part(part)
        out = {BAYES: baselines.bayes_optimal_probability(posts)}
        for name, model in models.items():
            out[name] = model.predict_proba(posts) if calibrated else sigmoid(model.log_odds(posts))
        reference = heuristic_scores(dataset.part("validation"))
        for name, score in heuristic_scores(posts).items():
            out[name] = heuristic_calibrators[name](_standardised(score, reference[name]))
        return out

    with stage("validation table"):
        y_validation = y[split.validation]
        validation_p = probabilities("validation", calibrated=False)
        validation_table = evaluate.metric_table(y_validation, validation_p, draws, seed)

    with stage("test table (every choice is made: measurement only)"):
        y_test = y[split.test]
        test_posts = dataset.part("test")
        test_p = probabilities("test", calibrated=True)
        test_table = evaluate.metric_table(y_test, test_p, draws, seed)
        uncalibrated = sigmoid(deployed.log_odds(test_posts))
        gap = evaluate.gap_to_reference(y_test, test_p[family], test_p[BAYES], draws, seed)
        calibration = {
            stage_name: {
                "brier": float(np.mean((p - y_test) ** 2)),
                "log_loss": metrics.log_loss(y_test, p),
                "ece": metrics.ece(y_test, p),
                "bins": _bins(y_test, p),
            }
            for stage_name, p in (
                ("before", uncalibrated),
                ("after", test_p[family]),
                (BAYES, test_p[BAYES]),
            )
        }
        by_subreddit = evaluate.per_group_ndcg(y_test, test_posts[CATEGORY_COLUMN], test_p, seed)
        log.info(
            "test: AUC %.4f (Bayes %.4f, gap %.5f), Brier %.5f (gap %.5f)",
            test_table[family]["auc"]["value"],
            test_table[BAYES]["auc"]["value"],
            gap["auc_gap"]["value"],
            test_table[family]["brier"]["value"],
            gap["brier_gap"]["value"],
        )

    with stage("write artifacts and metrics"):
        data_sha = sha256_file(data_path)
        version = _version(data_sha, family, groups, decay, seed)
        summary: dict[str, Any] = {
            "model_version": version,
            "deployed": {"family": family, "groups": list(groups), "name": family},
            "decay": {
                "form": decay.form,
                "placement": winner.placement,
                "param": decay.param,
                "half_life_hours": decay.half_life_hours,
                "sweep": [score.as_dict() for score in decay_scores],
                "cv_folds": spread,
            },
            "ablation": {f: [s.as_dict() for s in scores] for f, scores in ablations.items()},
            "elimination": [score.as_dict() for score in elimination],
            "validation": validation_table,
            "test": test_table,
            "gap_to_bayes": gap,
            "calibration": calibration,
            "calibrator": {
                "slope": deployed.calibrator.slope,
                "intercept": deployed.calibrator.intercept,
            },
            "ndcg_by_subreddit": by_subreddit,
            "split": {name: len(getattr(split, name)) for name in ("train", "validation", "test")},
            "bootstrap_draws": draws,
            "reads": READS,
            "seed": seed,
            "base_rate": float(y.mean()),
            "training_data_sha256": data_sha,
        }
        metadata = bundle_metadata(
            deployed,
            version,
            take(dataset.part("validation"), np.arange(SELF_CHECK_ROWS)),
            feature_groups=list(groups),
            decay={"form": decay.form, "param": decay.param},
            training_data_sha256=data_sha,
            metrics={
                "test": test_table[family],
                "gap_to_bayes": gap,
                "cv_log_loss": elimination[-1].log_loss,
            },
            drift=drift.reference(train_posts, deployed.predict_proba(train_posts)),
        )
        save_model(deployed, metadata, model_dir)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        write_metrics(metrics_dir, TRAINING, summary)
        _write_predictions(dataset, validation_p, test_p, metrics_dir / PREDICTIONS)
    return summary


def _version(
    data_sha: str, family: str, groups: tuple[Group, ...], decay: DecaySpec, seed: int
) -> str:
    fingerprint = json.dumps([data_sha, family, groups, decay.form, decay.param, seed])
    return f"{family}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:10]}"


def train_candidate(
    data_path: Path, model_dir: Path, family: Family, groups: tuple[Group, ...], seed: int = SEED
) -> str:
    """Fits one family on ``groups`` (decay constant fitted as in ``run``, no selection), saves
    and re-loads its bundle (checksum and self-check), and returns its version."""
    dataset = load_dataset(data_path, seed)
    train_posts, y_train = dataset.part("train"), dataset.y[dataset.split.train]
    decay = choose_decay(sweep_decay(train_posts, y_train, seed), train_posts, y_train, seed)
    model = fit_candidate(dataset, family, groups, decay, seed)
    y_validation = dataset.y[dataset.split.validation]
    p_validation = model.predict_proba(dataset.part("validation"))
    data_sha = sha256_file(data_path)
    version = _version(data_sha, family, groups, decay, seed)
    metadata = bundle_metadata(
        model,
        version,
        take(dataset.part("validation"), np.arange(SELF_CHECK_ROWS)),
        feature_groups=list(groups),
        decay={"form": decay.form, "param": decay.param},
        training_data_sha256=data_sha,
        metrics={
            "validation": {
                "auc": metrics.auc(y_validation, p_validation),
                "log_loss": metrics.log_loss(y_validation, p_validation),
                "brier": metrics.brier(y_validation, p_validation),
            }
        },
        drift=drift.reference(train_posts, model.predict_proba(train_posts)),
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


def _bins(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    bins = metrics.reliability(y, p)
    return [
        {"mean_predicted": float(m), "observed_rate": float(o), "count": float(c)}
        for m, o, c in zip(bins.mean_predicted, bins.observed_rate, bins.counts, strict=True)
        if c > 0
    ]


def _write_predictions(
    dataset: Dataset,
    validation: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    path: Path,
) -> None:
    frames = []
    for part, probabilities in (("validation", validation), ("test", test)):
        rows = getattr(dataset.split, part)
        frame = pd.DataFrame(
            {
                "split": part,
                ID_COLUMN: dataset.posts[ID_COLUMN][rows],
                CATEGORY_COLUMN: dataset.posts[CATEGORY_COLUMN][rows],
                "engaged": dataset.y[rows],
                **probabilities,
            }
        )
        frames.append(frame)
    staging = path.with_name(f".{path.name}.tmp")
    pd.concat(frames).to_csv(staging, index=False, float_format="%.10g")
    staging.replace(path)


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
