"""Behavioural tests on the model the real training code deploys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundle.store import LoadedModel, ModelLoadError, load_model
from features.io import read_posts_csv
from features.schema import take
from tests.support.bundles import TrainedArtifacts, TrainedBundle
from training.baselines import bayes_optimal_probability
from training.data import load_dataset


@pytest.fixture(scope="module")
def loaded(deployed_bundle: TrainedBundle) -> LoadedModel:
    return load_model(deployed_bundle.model_dir)


def _one_post(**overrides: object) -> dict[str, np.ndarray]:
    post: dict[str, object] = {
        "post_id": 1,
        "title": "new daily discussion thread",
        "subreddit": "science",
        "score": 250.0,
        "num_comments": 80.0,
        "upvote_ratio": 0.85,
        "post_age_hours": 12.0,
        "author_karma": 1000.0,
        **overrides,
    }
    return {key: np.array([value], dtype=object if isinstance(value, str) else None)
            for key, value in post.items()}  # fmt: skip


def _sweep(column: str, values: np.ndarray) -> dict[str, np.ndarray]:
    posts = _one_post()
    batch = {key: np.repeat(array, len(values)) for key, array in posts.items()}
    batch[column] = values.astype(np.float64)
    return batch


@pytest.mark.parametrize(
    ("column", "values", "direction"),
    [
        ("post_age_hours", np.linspace(0.1, 300, 60), -1),
        ("upvote_ratio", np.linspace(0.3, 1.0, 30), 1),
        ("num_comments", np.linspace(0, 400, 30), 1),
    ],
)
def test_directional(loaded: LoadedModel, column: str, values: np.ndarray, direction: int) -> None:
    """Older (or less liked, less discussed) post, all else equal, scores lower."""
    scores = loaded.model.predict_proba(_sweep(column, values))
    assert np.all(direction * np.diff(scores) > 0)


def test_scores_are_probabilities(loaded: LoadedModel, deployed_bundle: TrainedBundle) -> None:
    dataset = load_dataset(deployed_bundle.data_path)
    scores = loaded.model.predict_proba(dataset.part("test"))
    assert np.all((scores > 0) & (scores < 1))
    assert scores.mean() == pytest.approx(dataset.y[dataset.split.test].mean(), abs=0.01)


def test_row_order_does_not_change_any_post_score(
    loaded: LoadedModel, deployed_bundle: TrainedBundle
) -> None:
    posts = load_dataset(deployed_bundle.data_path).part("validation")
    scores = loaded.model.predict_proba(posts)
    order = np.random.default_rng(0).permutation(len(scores))
    shuffled = loaded.model.predict_proba({key: values[order] for key, values in posts.items()})
    np.testing.assert_array_equal(shuffled, scores[order])
    alone = loaded.model.predict_proba({key: values[:1] for key, values in posts.items()})
    assert alone[0] == scores[0]


def test_deployed_model_ignores_what_carries_no_signal(trained_artifacts: TrainedArtifacts) -> None:
    """Titles and subreddits carry no signal in this data; selection must have dropped them, so
    changing either leaves the deployed score exactly as it was."""
    loaded = load_model(trained_artifacts.model_dir)
    assert not {"text", "subreddit"} & set(loaded.model.features.groups)
    base = loaded.model.predict_proba(_one_post())[0]
    for change in ({"title": "free amazing official update"}, {"subreddit": "brand_new_sub"}):
        assert loaded.model.predict_proba(_one_post(**change))[0] == base


def test_a_bundle_reading_titles_and_subreddits_invents_little_signal(
    api_model_dir: Path, canonical_csv: Path
) -> None:
    """A bundle fitted on every group does read titles and subreddits, but shuffling them
    across 1,000 held-out posts moves scores far less than a day of age (a real signal: the
    generator's -0.05 per hour). Measured here: ~0.10 and ~0.07 of it; 0.2 fails a bundle
    that leans on noise. An unknown subreddit is encoded as the encoder's prior, exactly."""
    model = load_model(api_model_dir).model
    posts = take(read_posts_csv(canonical_csv), np.arange(20_000, 21_000))
    base = model.predict_proba(posts)
    shuffle = np.random.default_rng(0).permutation(len(base))

    def mean_shift(column: str, values: np.ndarray) -> float:
        return float(np.abs(model.predict_proba({**posts, column: values}) - base).mean())

    a_day_older = mean_shift("post_age_hours", posts["post_age_hours"] + 24)
    for column in ("title", "subreddit"):
        assert 0 < mean_shift(column, posts[column][shuffle]) < 0.2 * a_day_older, column
    features = model.features
    probe = {**take(posts, np.arange(1)), "subreddit": np.array(["brand_new_sub"], dtype=object)}
    assert features.unknown_subreddits(probe["subreddit"])[0]
    encoded = features.transform(probe)[0, features.feature_names.index("subreddit_engagement")]
    assert encoded == features.subreddit_prior


def test_ranking_tracks_the_bayes_ceiling(
    loaded: LoadedModel, deployed_bundle: TrainedBundle
) -> None:
    posts = load_dataset(deployed_bundle.data_path).part("test")
    correlation = np.corrcoef(loaded.model.predict_proba(posts), bayes_optimal_probability(posts))[
        0, 1
    ]
    assert correlation > 0.99


def test_quality_target_is_met(trained_artifacts: TrainedArtifacts) -> None:
    summary = json.loads((trained_artifacts.metrics_dir / "training.json").read_text())
    assert summary["gap_to_bayes"]["auc_gap"]["value"] <= 0.0005
    assert summary["gap_to_bayes"]["brier_gap"]["value"] <= 0.0003


def test_tampered_artifacts_are_refused(deployed_bundle: TrainedBundle, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(deployed_bundle.model_dir, copy)
    with (copy / "model.joblib").open("ab") as handle:
        handle.write(b"junk")
    with pytest.raises(ModelLoadError, match="does not match its metadata"):
        load_model(copy)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (copy / "metadata.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(copy)
