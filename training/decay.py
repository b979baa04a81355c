"""Fitting the time-decay curve against the label.

Each candidate curve f(age) enters a logistic regression next to score, comments and upvote
ratio; the curve with the lowest cross-validated log-loss wins. The ``log-linear`` candidate
puts age itself in the log-odds, i.e. engagement *odds* decay as exp(-rate * age) with the rate
estimated by the regression: the form the data-generating process implies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from bundle.scoring import sigmoid
from features.schema import Posts
from features.transforms import DecaySpec
from training import metrics
from training.data import cv_folds
from training.models import fit_logistic

CandidateForm = Literal["exponential", "power", "log-linear"]
EXPONENTIAL_TAUS_HOURS: Final = (3.0, 6.0, 12.0, 24.0, 48.0, 96.0, 192.0, 384.0)
POWER_EXPONENTS: Final = (0.25, 0.5, 1.0, 1.5, 1.8, 2.5)
_OTHER_SIGNALS: Final = ("score", "num_comments", "upvote_ratio")


@dataclass(frozen=True)
class DecayScore:
    """Cross-validated fit of one decay curve."""

    form: CandidateForm
    param: float
    half_life_hours: float
    log_loss: float
    log_loss_se: float
    auc: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _curve(form: CandidateForm, param: float, age: np.ndarray) -> np.ndarray:
    if form == "log-linear":
        return age
    return DecaySpec(form, param)(age)


def _half_life(form: CandidateForm, param: float) -> float:
    if form == "log-linear":
        return float("nan")  # the rate is estimated by the regression, see choose_decay
    return DecaySpec(form, param).half_life_hours


def _design(posts: Posts, form: CandidateForm, param: float) -> np.ndarray:
    columns = [posts[name] for name in _OTHER_SIGNALS]
    return np.column_stack([*columns, _curve(form, param, posts["post_age_hours"])])


def candidates() -> list[tuple[CandidateForm, float]]:
    grid: list[tuple[CandidateForm, float]] = [
        ("exponential", 1.0 / t) for t in EXPONENTIAL_TAUS_HOURS
    ]
    grid += [("power", alpha) for alpha in POWER_EXPONENTS]
    grid.append(("log-linear", 0.0))
    return grid


def sweep_decay(posts: Posts, y: np.ndarray, seed: int) -> list[DecayScore]:
    """Scores every candidate curve by stratified K-fold CV on the given (training) rows."""
    folds = list(cv_folds(y, seed))
    scores: list[DecayScore] = []
    for form, param in candidates():
        design = _design(posts, form, param)
        losses, aucs = [], []
        for fit_rows, held_rows in folds:
            model = fit_logistic(design[fit_rows], y[fit_rows], seed)
            p = sigmoid(model.decision_function(design[held_rows]))
            losses.append(metrics.log_loss(y[held_rows], p))
            aucs.append(metrics.auc(y[held_rows], p))
        scores.append(
            DecayScore(
                form=form,
                param=param,
                half_life_hours=_half_life(form, param),
                log_loss=float(np.mean(losses)),
                log_loss_se=float(np.std(losses, ddof=1) / np.sqrt(len(losses))),
                auc=float(np.mean(aucs)),
            )
        )
    return scores


def choose_decay(scores: list[DecayScore], posts: Posts, y: np.ndarray, seed: int) -> DecaySpec:
    """The winning curve as a ``DecaySpec``.

    If ``log-linear`` wins, the rate is the regression's own age coefficient: engagement odds
    fall by exp(-rate) per hour, so exp(-rate * age) is the decay weight the data supports.
    """
    best = min(scores, key=lambda score: score.log_loss)
    if best.form != "log-linear":
        return DecaySpec(best.form, best.param)
    model = fit_logistic(_design(posts, "log-linear", 0.0), y, seed)
    rate = -float(model.raw_coefficients()[-1])
    if rate <= 0:
        raise ValueError(f"age coefficient has the wrong sign (rate {rate:.4g}); data is off")
    return DecaySpec("exponential", rate)
