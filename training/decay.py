"""Fitting the time-decay curve against the label.

Every candidate is named by the curve's ``form`` (``exponential`` or ``power``, as in
``DecaySpec``) and by where the curve enters the model:

- ``feature``: the weight f(age) is an extra column next to score, comments and upvote ratio,
  so the logit moves by a coefficient times f(age) (bounded: it saturates for old posts);
- ``odds``: age itself is in the logit, so the odds are *multiplied* by exp(-rate * age) with
  the rate estimated by the regression: the exponential decay the data-generating process has.

The lowest cross-validated log-loss wins. ``rate_profile`` scores fixed rates used as an offset,
which shows how sharply the data pins the rate down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
import statsmodels.api as sm

from bundle.scoring import sigmoid
from features.schema import Posts
from features.transforms import DecayForm, DecaySpec
from training import metrics
from training.data import cv_folds
from training.models import fit_logistic

Placement = Literal["feature", "odds"]
EXPONENTIAL_TAUS_HOURS: Final = (3.0, 6.0, 12.0, 24.0, 48.0, 96.0, 192.0, 384.0)
POWER_EXPONENTS: Final = (0.25, 0.5, 1.0, 1.5, 1.8, 2.5)
OTHER_SIGNALS: Final = ("score", "num_comments", "upvote_ratio")
AGE: Final = "post_age_hours"


@dataclass(frozen=True)
class DecayScore:
    """Cross-validated fit of one decay curve; for ``odds`` the rate is the mean fitted one."""

    form: DecayForm
    placement: Placement
    param: float
    half_life_hours: float
    log_loss: float
    log_loss_se: float
    auc: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _design(posts: Posts, form: DecayForm, placement: Placement, param: float) -> np.ndarray:
    age = posts[AGE]
    column = age if placement == "odds" else DecaySpec(form, param)(age)
    return np.column_stack([*(posts[name] for name in OTHER_SIGNALS), column])


def candidates() -> list[tuple[DecayForm, Placement, float]]:
    grid: list[tuple[DecayForm, Placement, float]] = [
        ("exponential", "feature", 1.0 / t) for t in EXPONENTIAL_TAUS_HOURS
    ]
    grid += [("power", "feature", alpha) for alpha in POWER_EXPONENTS]
    grid.append(("exponential", "odds", 0.0))  # the rate is fitted per fold
    return grid


def sweep_decay(posts: Posts, y: np.ndarray, seed: int) -> list[DecayScore]:
    """Scores every candidate curve by stratified K-fold CV on the given (training) rows."""
    folds = list(cv_folds(y, seed))
    scores: list[DecayScore] = []
    for form, placement, grid_param in candidates():
        design = _design(posts, form, placement, grid_param)
        losses, aucs, rates = [], [], []
        for fit_rows, held_rows in folds:
            model = fit_logistic(design[fit_rows], y[fit_rows], seed)
            p = sigmoid(model.decision_function(design[held_rows]))
            losses.append(metrics.log_loss(y[held_rows], p))
            aucs.append(metrics.auc(y[held_rows], p))
            rates.append(-float(model.raw_coefficients()[-1]))
        param = float(np.mean(rates)) if placement == "odds" else grid_param
        scores.append(
            DecayScore(
                form=form,
                placement=placement,
                param=param,
                half_life_hours=DecaySpec(form, param).half_life_hours,
                log_loss=float(np.mean(losses)),
                log_loss_se=float(np.std(losses, ddof=1) / np.sqrt(len(losses))),
                auc=float(np.mean(aucs)),
            )
        )
    return scores


def choose_decay(scores: list[DecayScore], posts: Posts, y: np.ndarray, seed: int) -> DecaySpec:
    """The winning curve as a ``DecaySpec``.

    If the ``odds`` placement wins, the rate is the age coefficient refitted on all the given
    rows: the odds fall by exp(-rate) per hour, so exp(-rate * age) is the supported decay.
    """
    best = min(scores, key=lambda score: score.log_loss)
    if best.placement == "feature":
        return DecaySpec(best.form, best.param)
    model = fit_logistic(_design(posts, "exponential", "odds", 0.0), y, seed)
    rate = -float(model.raw_coefficients()[-1])
    if rate <= 0:
        raise ValueError(f"age coefficient has the wrong sign (rate {rate:.4g}); data is off")
    return DecaySpec("exponential", rate)


@dataclass(frozen=True)
class DecayChoice:
    """The swept curves and the chosen one, with where the sweep's winner enters the model."""

    sweep: list[DecayScore]
    spec: DecaySpec
    placement: Placement

    def as_dict(self) -> dict[str, Any]:
        return {
            "form": self.spec.form,
            "placement": self.placement,
            "param": self.spec.param,
            "half_life_hours": self.spec.half_life_hours,
            "sweep": [score.as_dict() for score in self.sweep],
        }


def select_decay(posts: Posts, y: np.ndarray, seed: int) -> DecayChoice:
    """``sweep_decay`` on the given (training) rows, then ``choose_decay``."""
    sweep = sweep_decay(posts, y, seed)
    winner = min(sweep, key=lambda score: score.log_loss)
    return DecayChoice(sweep, choose_decay(sweep, posts, y, seed), winner.placement)


@dataclass(frozen=True)
class ProfilePoint:
    """CV log-loss with the age rate fixed (an offset) and the other weights refitted."""

    rate: float
    log_loss: float
    log_loss_se: float


def _offset_logit(design: np.ndarray, target: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Unpenalised logistic-link coefficients with a fixed offset; ``target`` may be soft."""
    family = sm.families.Binomial()
    fitted = sm.GLM(target, sm.add_constant(design), family=family, offset=offset).fit()
    return np.asarray(fitted.params)


def rate_profile(
    posts: Posts, y: np.ndarray, rates: Sequence[float], seed: int
) -> list[ProfilePoint]:
    """CV log-loss against a fixed decay rate: the logit is ``other weights - rate * age``.

    The same folds as ``sweep_decay``; the other signals' weights are refitted in each fold,
    the age term is not, so the curve's minimum is the rate the labels prefer and its width
    is how well they pin it down.
    """
    folds = list(cv_folds(y, seed))
    design = np.column_stack([posts[name] for name in OTHER_SIGNALS])
    age = posts[AGE]
    points = []
    for rate in rates:
        losses = []
        for fit_rows, held_rows in folds:
            params = _offset_logit(design[fit_rows], y[fit_rows], -rate * age[fit_rows])
            logit = params[0] + design[held_rows] @ params[1:] - rate * age[held_rows]
            losses.append(metrics.log_loss(y[held_rows], sigmoid(logit)))
        points.append(
            ProfilePoint(
                float(rate),
                float(np.mean(losses)),
                float(np.std(losses, ddof=1) / np.sqrt(len(losses))),
            )
        )
    return points


def soft_label_rate(posts: Posts, probabilities: np.ndarray) -> float:
    """The age rate of a logistic fit to probabilities used as soft labels.

    Fitted to the Bayes probabilities this is the rate an infinitely large sample of these
    posts would give a logistic model on the four generator signals: the target the
    label-fitted rate estimates, without the label noise.
    """
    signals = [*OTHER_SIGNALS, AGE]
    design = np.column_stack([posts[name] for name in signals])
    params = _offset_logit(design, probabilities, np.zeros(len(probabilities)))
    return -float(params[-1])


def fold_spread(decays: Sequence[DecaySpec]) -> dict[str, Any]:
    """How much the curve fitted inside each CV fold moves: every fold's curve, and the range
    and standard deviation of its parameter and half-life (over folds of the modal form)."""
    forms = [decay.form for decay in decays]
    modal = max(set(forms), key=forms.count)
    params = np.array([decay.param for decay in decays if decay.form == modal])
    half_lives = np.array([decay.half_life_hours for decay in decays if decay.form == modal])
    return {
        "folds": [
            {"form": d.form, "param": d.param, "half_life_hours": d.half_life_hours} for d in decays
        ],
        "form": modal,
        "same_form_in_every_fold": forms.count(modal) == len(forms),
        "param_min": float(params.min()),
        "param_max": float(params.max()),
        "param_sd": float(params.std(ddof=1)) if len(params) > 1 else 0.0,
        "half_life_min": float(half_lives.min()),
        "half_life_max": float(half_lives.max()),
    }
