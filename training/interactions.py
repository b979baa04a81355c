"""What the interaction terms add beyond the raw fields, tested against the generator.

The generator's logit is additive in score, age, upvote ratio and comments, so conditional on
those four an interaction term has a true coefficient of zero. ``interaction_fits`` estimates
each term's coefficient next to the four signals with a 95% interval, and measures how much
of the term is one raw field in disguise (rank correlation), which is what a tree model's
importance picks up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import statsmodels.api as sm
from scipy import stats

from features.fit import fit_features
from features.schema import Posts
from features.transform import GROUP_FEATURES
from features.transforms import DecaySpec
from training.baselines import GENERATOR_WEIGHTS

# the raw fields each interaction is computed from (features/transforms.py)
INPUTS: Final = {
    "score_x_upvote_ratio": ("score", "upvote_ratio"),
    "comment_velocity": ("num_comments", "post_age_hours"),
    "decayed_log_score": ("score", "post_age_hours"),
    "comments_per_point": ("num_comments", "score"),
}


@dataclass(frozen=True)
class InteractionFit:
    """One interaction's coefficient (log-odds per standard deviation) next to the signals."""

    feature: str
    inputs: tuple[str, ...]
    coefficient_per_sd: float
    low: float
    high: float
    p_value: float
    spearman: dict[str, float]

    @property
    def zero_inside_ci(self) -> bool:
        return self.low <= 0.0 <= self.high

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "zero_inside_ci": self.zero_inside_ci}


def interaction_fits(posts: Posts, y: np.ndarray, decay: DecaySpec) -> list[InteractionFit]:
    """Unpenalised logistic regression of the label on the four signals plus one interaction.

    One term at a time, so a term's interval is not widened by the others it is correlated
    with; the term is standardised so the coefficients are comparable across terms.
    """
    features, matrix = fit_features(posts, y, ("interactions",), decay)
    names = list(features.feature_names)
    if set(names) != set(INPUTS) or set(GROUP_FEATURES["interactions"]) != set(INPUTS):
        raise ValueError(f"interaction features changed: {names}; update INPUTS")
    signals = np.column_stack([posts[name] for name in GENERATOR_WEIGHTS])
    fits = []
    for index, name in enumerate(names):
        term = matrix[:, index]
        standardised = (term - term.mean()) / term.std()
        design = sm.add_constant(np.column_stack([signals, standardised]))
        fitted = sm.Logit(y, design).fit(disp=0)
        low, high = np.asarray(fitted.conf_int(0.05))[-1]
        fits.append(
            InteractionFit(
                feature=name,
                inputs=INPUTS[name],
                coefficient_per_sd=float(np.asarray(fitted.params)[-1]),
                low=float(low),
                high=float(high),
                p_value=float(np.asarray(fitted.pvalues)[-1]),
                spearman={
                    field: float(stats.spearmanr(term, posts[field]).statistic)
                    for field in INPUTS[name]
                },
            )
        )
    return fits
