"""The scoring objects of a bundle (``bundle.scoring``): the sigmoid and Platt calibration, and
a post's score depending on that post alone."""

from __future__ import annotations

import numpy as np

from bundle.scoring import PlattCalibrator, sigmoid
from bundle.store import load_model
from tests.support.bundles import TrainedBundle
from training.data import load_dataset


def test_sigmoid_is_the_logistic_function_and_finite_at_extremes() -> None:
    """The tanh form equals 1 / (1 + e^-x), and far out it is exactly 0 or 1, never NaN."""
    log_odds = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(log_odds), 1 / (1 + np.exp(-log_odds)), rtol=0, atol=1e-15)
    extremes = sigmoid(np.array([-1e300, -800.0, 800.0, 1e300]))
    np.testing.assert_array_equal(extremes, [0.0, 0.0, 1.0, 1.0])


def test_platt_calibration_never_reorders_scores() -> None:
    log_odds = np.random.default_rng(0).normal(0, 3, 1_000)
    calibrated = PlattCalibrator(slope=0.7, intercept=-0.2)(log_odds)
    np.testing.assert_array_equal(np.argsort(calibrated), np.argsort(log_odds))
    np.testing.assert_allclose(calibrated, sigmoid(0.7 * log_odds - 0.2), rtol=0, atol=1e-15)


def test_row_order_does_not_change_any_post_score(deployed_bundle: TrainedBundle) -> None:
    loaded = load_model(deployed_bundle.model_dir)
    posts = load_dataset(deployed_bundle.data_path).part("validation")
    scores = loaded.model.predict_proba(posts)
    order = np.random.default_rng(0).permutation(len(scores))
    shuffled = loaded.model.predict_proba({key: values[order] for key, values in posts.items()})
    np.testing.assert_array_equal(shuffled, scores[order])
    alone = loaded.model.predict_proba({key: values[:1] for key, values in posts.items()})
    assert alone[0] == scores[0]
