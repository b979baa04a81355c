"""Faults in the model: broken artifacts stop start-up with one clear line; a model that raises
at predict time gets a 503 ``model_error`` (not a 500, not a made-up ranking).

Start-up refusals run the image's entry point, ``python -m serving``, as real processes (all
cases at once, so the module costs about one start-up). tests/system/test_server.py covers a
missing directory and a tampered bundle; the cases here are the other ways a model directory
goes wrong.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from bundle.store import (
    METADATA_FILE,
    MODEL_FILE,
    SCORING_FILE,
    ModelLoadError,
    load_model,
    sha256_file,
)
from serving.app import create_app
from serving.rollout import ServedModel
from serving.settings import Settings
from tests.support.api import metric
from tests.support.server import start_server

pytestmark = pytest.mark.faults
START_TIMEOUT_S = 120.0


# --- broken model directories -------------------------------------------------------------------


def _metadata(model_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((model_dir / METADATA_FILE).read_text())
    return loaded


def _write_metadata(model_dir: Path, metadata: dict[str, Any]) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata))


def _replace_bundle(model_dir: Path, obj: Any) -> None:
    """Swaps the bundle and updates its checksum, so only what follows the checksum can fail."""
    joblib.dump(obj, model_dir / MODEL_FILE)
    _write_metadata(
        model_dir, {**_metadata(model_dir), "model_sha256": sha256_file(model_dir / MODEL_FILE)}
    )


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_metadata(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(model_dir: Path) -> None:
        metadata = _metadata(model_dir)
        change(metadata)
        _write_metadata(model_dir, metadata)

    return edit


def _garbage_bundle(model_dir: Path) -> None:
    (model_dir / MODEL_FILE).write_bytes(b"\x80\x04not a pickle at all")
    _edit_metadata(lambda m: m.update(model_sha256=sha256_file(model_dir / MODEL_FILE)))(model_dir)


def _replace_export(content: bytes) -> Callable[[Path], None]:
    """Swaps scoring.json (what the service loads) and updates its checksum."""

    def replace(model_dir: Path) -> None:
        (model_dir / SCORING_FILE).write_bytes(content)
        _edit_metadata(lambda m: m.update(scoring_sha256=sha256_file(model_dir / SCORING_FILE)))(
            model_dir
        )

    return replace


# name -> (how to break a copy of the fixture model, what the one line must say)
BROKEN: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "bundle missing": (lambda d: (d / MODEL_FILE).unlink(), [MODEL_FILE, "is missing"]),
    "metadata missing": (lambda d: (d / METADATA_FILE).unlink(), [METADATA_FILE, "is missing"]),
    "dir is a file": (lambda d: (shutil.rmtree(d), d.write_text("x")), ["does not exist"]),
    "bundle half-written": (lambda d: _truncate(d / MODEL_FILE), [MODEL_FILE, "does not match"]),
    "metadata half-written": (
        lambda d: _truncate(d / METADATA_FILE),
        [METADATA_FILE, "not valid JSON"],
    ),
    "metadata not an object": (
        lambda d: (d / METADATA_FILE).write_text("[1, 2]"),
        [METADATA_FILE, "holds a JSON list, not an object"],
    ),
    "metadata key missing": (
        _edit_metadata(lambda m: m.pop("package_versions")),
        [METADATA_FILE, "has no 'package_versions' key"],
    ),
    "metadata nested absurdly": (
        lambda d: (d / METADATA_FILE).write_text("[" * 100_000 + "]" * 100_000),
        [METADATA_FILE, "is not valid JSON"],
    ),
    "metadata oversized": (
        _edit_metadata(lambda m: m.update(padding="x" * (2 << 20))),
        [METADATA_FILE, "over the 1,048,576-byte limit"],
    ),
    "checksum missing": (
        _edit_metadata(lambda m: m.pop("model_sha256")),
        [METADATA_FILE, "model_sha256"],
    ),
    "bundle from another run": (
        _edit_metadata(lambda m: m.update(model_sha256="0" * 64)),
        [MODEL_FILE, "from another run"],
    ),
    "export missing": (lambda d: (d / SCORING_FILE).unlink(), [SCORING_FILE, "is missing"]),
    "export half-written": (
        lambda d: _truncate(d / SCORING_FILE),
        [SCORING_FILE, "does not match"],
    ),
    "export not JSON": (_replace_export(b"{not json"), [SCORING_FILE, "is not valid JSON"]),
    "export wrong object": (
        _replace_export(b"[1, 2, 3]"),
        [SCORING_FILE, "holds a JSON list, not a scoring export"],
    ),
    "export another format": (
        _replace_export(b'{"format": "onnx"}'),
        [SCORING_FILE, "format is 'onnx'"],
    ),
    "features disagree": (
        _edit_metadata(lambda m: m["feature_names"].reverse()),
        ["features disagree with", METADATA_FILE],
    ),
    "scores differ": (
        _edit_metadata(
            lambda m: m["self_check"].update(scores=[0.5] * len(m["self_check"]["scores"]))
        ),
        ["fails its self-check", "scores differ"],
    ),
    "self-check malformed": (
        _edit_metadata(lambda m: m["self_check"].pop("posts")),
        ["malformed self_check"],
    ),
    "self-check empty": (
        _edit_metadata(lambda m: m.update(self_check={"posts": [], "scores": []})),
        ["empty self_check"],
    ),
}
# checked end to end through real processes (the rest in process: same code path, less CPU)
IN_A_REAL_PROCESS = (
    "metadata half-written",
    "metadata nested absurdly",
    "bundle from another run",
    "features disagree",
)
BAD_ENV = {
    "max_body_bytes": ("12", ["FEEDRANK_MAX_BODY_BYTES='12'", "greater than or equal to 1024"])
}


def _broken_copy(api_model_dir: Path, base: Path, case: str) -> Path:
    model_dir = base / case.replace(" ", "-") / "models"
    shutil.copytree(api_model_dir, model_dir)
    if case in BROKEN:
        BROKEN[case][0](model_dir)
    return model_dir


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_model_dir_is_one_line_naming_path_and_problem(
    api_model_dir: Path, tmp_path: Path, case: str
) -> None:
    model_dir = _broken_copy(api_model_dir, tmp_path, case)
    with pytest.raises(ModelLoadError) as raised:
        ServedModel.load(model_dir)
    message = str(raised.value)
    assert "\n" not in message
    for needle in BROKEN[case][1]:
        assert needle in message
    assert str(model_dir) in message


# the pickle is what batch scoring and the notebooks load (``load_model``); the service never
# unpickles, so these two are refused by ``load_model`` rather than at start-up
UNPICKLING: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "not a pickle": (_garbage_bundle, [MODEL_FILE, "cannot be unpickled"]),
    "wrong object": (
        lambda d: _replace_bundle(d, {"weights": [1, 2, 3]}),
        [MODEL_FILE, "holds a dict, not a RankingModel"],
    ),
}


@pytest.mark.parametrize("case", list(UNPICKLING))
def test_broken_pickle_is_one_line_naming_path_and_problem(
    api_model_dir: Path, tmp_path: Path, case: str
) -> None:
    model_dir = tmp_path / "models"
    shutil.copytree(api_model_dir, model_dir)
    UNPICKLING[case][0](model_dir)
    with pytest.raises(ModelLoadError) as raised:
        load_model(model_dir)
    message = str(raised.value)
    assert "\n" not in message
    for needle in UNPICKLING[case][1]:
        assert needle in message


def test_bundle_from_other_package_versions_warns_once_naming_both(
    api_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model_dir = tmp_path / "models"
    shutil.copytree(api_model_dir, model_dir)
    _edit_metadata(lambda m: m["package_versions"].update(numpy="0.0.1"))(model_dir)
    with caplog.at_level("WARNING", logger="feedrank.bundle"):
        ServedModel.load(model_dir)  # the self-check still passes: a warning, not a refusal
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert f"numpy 0.0.1 (installed {np.__version__})" in warnings[0]
    assert str(model_dir / METADATA_FILE) in warnings[0]


@pytest.fixture(scope="module")
def refusals(
    api_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, str]]:
    """Starts ``python -m serving`` once per case, all at once: each exit status and output."""
    base = tmp_path_factory.mktemp("broken")
    launched = {}
    for case in (*IN_A_REAL_PROCESS, *BAD_ENV):
        settings = {case: BAD_ENV[case][0]} if case in BAD_ENV else {}
        model_dir = _broken_copy(api_model_dir, base, case)
        launched[case] = start_server(model_dir, model_dir.parent, **settings)
    results = {}
    for case, server in launched.items():
        results[case] = (server.process.wait(timeout=START_TIMEOUT_S), server.log())
    return results


@pytest.mark.parametrize("case", [*IN_A_REAL_PROCESS, *BAD_ENV])
def test_server_refuses_to_start_with_one_clear_line(
    refusals: dict[str, tuple[int, str]], case: str
) -> None:
    status, output = refusals[case]
    needles = BROKEN[case][1] if case in BROKEN else BAD_ENV[case][1]
    assert status == 1, (status, output)
    assert "Traceback" not in output
    assert "Listening at" not in output  # it never served
    reasons = [line for line in output.splitlines() if "feedrank cannot start" in line]
    assert len(reasons) == 1, output
    for needle in needles:
        assert needle in reasons[0], reasons[0]


# --- a model that raises at predict time --------------------------------------------------------


@pytest.fixture
def app_client(api_model_dir: Path) -> Any:
    app = create_app(Settings(model_dir=api_model_dir))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_model_that_raises_is_503_and_pulls_the_replica_out_of_rotation(
    app_client: TestClient,
    api_posts: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ranker = app_client.app.state.service.rollout.champion  # type: ignore[attr-defined]

    class BrokenEstimator:
        def decision_function(self, matrix: Any) -> Any:
            raise MemoryError("secret internal detail")

    assert app_client.post("/rank", json=api_posts[:5]).status_code == 200
    monkeypatch.setattr(ranker, "model", replace(ranker.model, estimator=BrokenEstimator()))
    response = app_client.post("/rank", json=api_posts[:5])
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["error"]) == (503, "model_error")
    assert "MemoryError" in body["message"] and "nothing was ranked" in body["message"]
    assert "secret" not in response.text
    assert response.headers["retry-after"] == "1"
    # the traceback in the log names the model's own exception (read from the records, whatever
    # formats them)
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert any("secret internal detail" in str(e.__cause__) for e in logged)
    assert metric(app_client, "feedrank_model_errors_total") == 1
    assert 'feedrank_http_requests_total{method="POST",route="/rank",status="503"} 1' in (
        app_client.get("/metrics").text
    )
    # the self-check fails too: /ready turns 503 so a load balancer stops sending traffic,
    # while /health (liveness) stays 200: restarting would load the same model again
    ready = app_client.get("/ready")
    assert (ready.status_code, ready.json()["error"]) == (503, "model_error")
    assert ready.headers["retry-after"] == "1"
    assert app_client.get("/health").status_code == 200
    monkeypatch.undo()  # the fault clears (say, memory is available again)
    assert app_client.get("/ready").status_code == 200
    assert app_client.post("/rank", json=api_posts[:5]).status_code == 200


def test_input_specific_model_failure_keeps_the_replica_ready(
    app_client: TestClient, api_posts: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    features = app_client.app.state.service.rollout.champion.model.features  # type: ignore[attr-defined]
    transform = features.transform

    def fails_on_one_subreddit(columns: dict[str, np.ndarray]) -> Any:
        if "r_poison" in columns["subreddit"]:
            raise ValueError("unseen input shape")
        return transform(columns)

    monkeypatch.setattr(features, "transform", fails_on_one_subreddit)  # a plain object
    poisoned = [{**api_posts[0], "subreddit": "r_poison"}, api_posts[1]]
    response = app_client.post("/rank", json=poisoned)
    assert (response.status_code, response.json()["error"]) == (503, "model_error")
    assert "ValueError" in response.json()["message"]
    assert app_client.get("/ready").status_code == 200  # the self-check still passes
    assert app_client.post("/rank", json=api_posts[:3]).status_code == 200


def test_non_finite_scores_are_a_model_error(
    app_client: TestClient, api_posts: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ranker = app_client.app.state.service.rollout.champion  # type: ignore[attr-defined]
    nan_calibrator = replace(ranker.model.calibrator, slope=float("nan"))
    monkeypatch.setattr(ranker, "model", replace(ranker.model, calibrator=nan_calibrator))
    response = app_client.post("/rank", json=api_posts[:3])
    assert (response.status_code, response.json()["error"]) == (503, "model_error")
    assert app_client.get("/ready").status_code == 503


def test_before_the_model_is_loaded_every_model_route_is_503_with_retry_after(
    api_posts: list[dict[str, Any]],
) -> None:
    """The window between accepting connections and the lifespan loading the model: a load
    balancer polling /ready, or a client that raced it, is told to come back, not failed."""
    client = TestClient(create_app(Settings(model_dir=Path("never-loaded"))))  # no lifespan run
    for response in (client.get("/ready"), client.post("/rank", json=api_posts[:2])):
        assert response.status_code == 503
        assert response.json()["error"] == "not_ready"
        assert response.headers["retry-after"] == "1"
    assert client.get("/health").status_code == 200  # alive all the same
