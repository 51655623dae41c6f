"""Both runners answer exactly what the registry's pipeline answers, on held-out raw rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from lambeam.inference import (
    ModelRunner,
    OnnxRunner,
    SklearnRunner,
    load_runner,
    parse_request,
)
from lambeam.project import Project
from lambeam.registry import ATOL, RTOL
from tests.inference.conftest import HELD_OUT, TRAIN, Models, instances
from tests.registry.fitted import fitted, register, regression_target, signature

KINDS = ["logistic", "forest", "linear", "kmeans", "isolation"]
RUNNERS = {"onnx": OnnxRunner, "sklearn": SklearnRunner}


def _runner(models: Models, name: str, kind: str) -> ModelRunner:
    version = models.get(name)
    if kind == "onnx":
        assert version.onnx_status == "trusted", version.onnx_check
    return RUNNERS[kind].from_version(version)


@pytest.mark.parametrize("kind", sorted(RUNNERS))
@pytest.mark.parametrize("name", KINDS)
def test_runner_predicts_what_the_pipeline_predicts(models: Models, name: str, kind: str) -> None:
    version = models.get(name)
    pipeline = version.load()
    runner = _runner(models, name, kind)
    assert isinstance(runner, ModelRunner)
    assert (runner.kind, runner.model) == (kind, version.ref)

    got = runner.predict(HELD_OUT, probabilities=True)
    want = pipeline.predict(HELD_OUT)
    assert len(got) == len(HELD_OUT)
    if name == "linear":
        assert got.classes is None and got.probabilities is None
        tolerance = {"atol": ATOL, "rtol": RTOL} if kind == "onnx" else {"atol": 0, "rtol": 0}
        np.testing.assert_allclose(got.predictions, want, **tolerance)
        return
    assert got.predictions == want.tolist()
    if name in ("logistic", "forest"):
        assert got.classes == ["no", "yes"]
        np.testing.assert_allclose(
            got.probabilities, pipeline.predict_proba(HELD_OUT), atol=ATOL, rtol=RTOL
        )
        assert runner.predict(HELD_OUT.head(3), probabilities=False).probabilities is None
    else:  # clusters and outliers: labels only
        assert got.classes is None and got.probabilities is None
    if name == "isolation":
        assert set(got.predictions) <= {1, -1} and -1 in got.predictions


@pytest.mark.parametrize("kind", sorted(RUNNERS))
def test_rows_sent_as_json_predict_like_the_frame_they_came_from(models: Models, kind: str) -> None:
    # Held-out rows with gaps in 'amount', through the wire form and back to a canonical frame.
    version = models.logistic
    request = parse_request({"instances": instances(HELD_OUT)}, version.signature)
    got = _runner(models, "logistic", kind).predict(request.frame)
    assert got.predictions == version.load().predict(HELD_OUT).tolist()


def test_load_runner_serves_onnx_only_when_the_graph_is_trusted(models: Models) -> None:
    assert load_runner(models.logistic).kind == "onnx"
    assert load_runner(models.logistic, prefer_onnx=False).kind == "sklearn"
    fallback = models.unconvertible
    assert fallback.onnx_status == "unconvertible"
    runner = load_runner(fallback)
    assert runner.kind == "sklearn" and runner.model == fallback.ref
    assert runner.predict(HELD_OUT).predictions == fallback.load().predict(HELD_OUT).tolist()
    # What the CLI says of a version's ONNX status names the runner a function would use.
    assert models.logistic.onnx_summary == "trusted (served by ONNX Runtime)"
    assert fallback.onnx_summary.endswith("(served by scikit-learn)")


def test_runners_are_single_threaded(models: Models) -> None:
    runner = SklearnRunner.from_version(models.forest)  # registered with n_jobs=2
    assert runner.pipeline.get_params()["model__n_jobs"] == 1
    options = OnnxRunner.from_version(models.forest).session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


@pytest.mark.parametrize("kind", sorted(RUNNERS))
def test_a_model_with_several_outputs_gives_a_list_per_row(
    inference_project: Project, kind: str
) -> None:
    targets = np.column_stack([regression_target(TRAIN), TRAIN["age"].to_numpy()])
    pipeline = fitted(LinearRegression(), TRAIN, targets)
    version = register(
        inference_project.db,
        inference_project.store,
        pipeline,
        model="two-outputs",
        task="regression",
        sample=HELD_OUT,
        sig=signature({"task": "regression"}),
    )
    if kind == "onnx" and version.onnx_status != "trusted":
        pytest.skip(f"the graph is {version.onnx_status}: {version.onnx_check['error']}")
    got = RUNNERS[kind].from_version(version).predict(HELD_OUT.head(4))
    assert np.shape(got.predictions) == (4, 2)
    np.testing.assert_allclose(
        got.predictions, pipeline.predict(HELD_OUT.head(4)), atol=ATOL, rtol=RTOL
    )
