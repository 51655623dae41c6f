"""ONNX export: converted, run in ONNX Runtime on held-out rows, compared with scikit-learn."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVR

from lambeam.project import Project
from lambeam.registry import ATOL, compare_outputs, get_model_version, onnx_feed
from tests.registry.fitted import (
    class_labels,
    fitted,
    frame,
    log_pipeline,
    register,
    regression_target,
)

TRAIN, HELD_OUT = frame(rows=240, seed=0), frame(rows=120, seed=1)


def _run_onnx(version, sample):
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    return session.run(None, onnx_feed(version.signature, sample, version.onnx_check["input_type"]))


@pytest.mark.parametrize(
    ("estimator", "task"),
    [
        (LogisticRegression(max_iter=500), "classification"),
        (RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0), "classification"),
        (LinearRegression(), "regression"),
    ],
    ids=["logistic", "forest", "linear"],
)
def test_convertible_pipelines_are_trusted(registry: Project, estimator, task: str) -> None:
    y = class_labels(TRAIN) if task == "classification" else regression_target(TRAIN)
    pipeline = fitted(estimator, TRAIN, y)
    version = register(registry.db, registry.store, pipeline, task=task, sample=HELD_OUT)
    assert version.onnx_status == "trusted", version.onnx_check
    check = version.onnx_check
    assert (check["rows"], check["agreement"], check["error"]) == (120, 1.0, None)
    assert check["max_abs_diff"] <= ATOL and check["tolerance"] == {"atol": 1e-4, "rtol": 1e-4}
    # The stored graph, fed the way a serving function feeds it, gives scikit-learn's answers.
    stored = get_model_version(registry.db, registry.store, version.ref)
    assert stored.onnx_status == "trusted" and stored.onnx_check == check
    outputs = _run_onnx(stored, HELD_OUT)
    if task == "classification":
        assert check["compared"] == ["label", "probabilities"]
        assert list(outputs[0]) == list(pipeline.predict(HELD_OUT))
        np.testing.assert_allclose(outputs[1], pipeline.predict_proba(HELD_OUT), atol=ATOL)
    else:
        np.testing.assert_allclose(
            outputs[0].ravel(), pipeline.predict(HELD_OUT), atol=ATOL, rtol=1e-4
        )


def test_clusterer_is_trusted_and_float64_is_used_when_it_runs(project: Project) -> None:
    # Without an imputer every operator exists for float64, so the graph keeps double inputs.
    steps = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["age"]),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    pipeline = fitted(KMeans(n_clusters=3, n_init=2, random_state=0), TRAIN, steps=steps)
    version = register(
        project.db, project.store, pipeline, model="segments", task="clustering", sample=HELD_OUT
    )
    assert version.onnx_status == "trusted", version.onnx_check
    assert version.onnx_check["input_type"] == "double"
    assert version.onnx_check["compared"] == ["label", "scores"]


def test_unconvertible_is_recorded_with_its_reason(registry: Project) -> None:
    pipeline = log_pipeline(TRAIN, regression_target(TRAIN), LinearRegression())
    version = register(
        registry.db, registry.store, pipeline, model="logged", task="regression", sample=HELD_OUT
    )
    assert version.onnx_status == "unconvertible"
    assert version.onnx_digest is None and version.onnx_bytes() is None
    reason = version.onnx_check["error"]
    assert "FunctionTransformer" in reason and "\n" not in reason
    # The model itself is registered and serves from skops.
    loaded = get_model_version(registry.db, registry.store, "logged:1").load()
    np.testing.assert_array_equal(loaded.predict(HELD_OUT), pipeline.predict(HELD_OUT))


def test_disagreeing_graph_is_stored_but_never_trusted(
    registry: Project, caplog: pytest.LogCaptureFixture
) -> None:
    # The CLI quiets lambeam's logger to errors; a CLI test run earlier in this process would
    # otherwise hide the warning this test looks for.
    caplog.set_level(logging.WARNING, logger="lambeam")
    # Amounts around 1e8 with meaningful units: the float32 graph (forced by SVR, whose ONNX-ML
    # operator ONNX Runtime implements for float32 only) cannot represent them; float64
    # scikit-learn can.
    train = TRAIN.copy()
    train["amount"] = 1e8 + np.random.default_rng(2).uniform(0, 1000, len(train))
    held_out = HELD_OUT.copy()
    held_out["amount"] = 1e8 + np.random.default_rng(3).uniform(0, 1000, len(held_out))
    pipeline = fitted(SVR(C=100.0), train, train["amount"].to_numpy() - 1e8)
    version = register(
        registry.db, registry.store, pipeline, model="big", task="regression", sample=held_out
    )
    assert version.onnx_status == "disagrees"
    check = version.onnx_check
    assert check["input_type"] == "float" and check["rows"] == 120
    assert check["agreement"] < 1.0 and check["max_abs_diff"] > 1.0
    assert version.onnx_bytes() is not None  # kept for inspection, marked not trusted
    assert any("big:1" in r.message and "disagrees" in r.message for r in caplog.records)


def test_without_a_sample_the_graph_is_unchecked(project: Project) -> None:
    pipeline = fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN))
    version = register(project.db, project.store, pipeline, sample=None)
    assert version.onnx_status == "unchecked" and version.onnx_bytes() is not None
    assert version.onnx_check["rows"] == 0 and version.onnx_check["agreement"] is None
    missing = register(project.db, project.store, pipeline, sample=HELD_OUT.drop(columns=["city"]))
    assert missing.onnx_status == "unchecked" and "'city'" in missing.onnx_check["error"]


def test_compare_outputs_row_by_row() -> None:
    labels = np.array(["no", "yes", "yes", "no"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    same = compare_outputs(
        [("label", labels, True), ("probabilities", proba, False)],
        [labels.astype(object), proba.astype(np.float32)],
    )
    assert same["agreement"] == 1.0 and same["max_abs_diff"] < 1e-6 and same["rows"] == 4
    other_labels = np.array(["no", "yes", "no", "no"], dtype=object)
    nudged = proba.copy()
    nudged[0, 0] += 5e-5  # inside atol + rtol * |x|
    nudged[3, 1] += 1e-3  # outside it
    result = compare_outputs(
        [("label", labels, True), ("probabilities", proba, False)], [other_labels, nudged]
    )
    assert result["agreement"] == 0.5  # rows 2 (label) and 3 (probability) disagree
    assert result["max_abs_diff"] == pytest.approx(1e-3)
    shape = compare_outputs([("variable", np.zeros(4), False)], [np.zeros((4, 2))])
    assert shape["agreement"] == 0.0 and "shape" in shape["errors"][0]
    numeric = compare_outputs(
        [("label", np.array([0, 1, 1]), True)], [np.array([0, 1, 1], dtype=np.int64)]
    )
    assert numeric["agreement"] == 1.0


def test_frozen_column_pipelines_convert_like_the_ones_they_wrap(project: Project) -> None:
    # Dataset transforms freeze their fitted column pipelines; the graph is built from what they
    # wrap, and the registered pipeline itself is left as it was.
    from sklearn.frozen import FrozenEstimator
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    numbers = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]).fit(
        TRAIN[["amount", "age"]]
    )
    city = OneHotEncoder(handle_unknown="ignore").fit(TRAIN[["city"]])
    steps = ColumnTransformer(
        [
            ("numbers", FrozenEstimator(numbers), ["amount", "age"]),
            ("city", FrozenEstimator(city), ["city"]),
        ]
    )
    pipeline = fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN), steps=steps)
    version = register(project.db, project.store, pipeline, sample=HELD_OUT)
    assert version.onnx_status == "trusted", version.onnx_check
    assert isinstance(pipeline[0].transformers_[0][1], FrozenEstimator)
    assert isinstance(version.load()[0].transformers_[0][1], FrozenEstimator)


def test_per_column_scalers_are_exported_as_one_node_with_the_same_answers() -> None:
    """A dataset's transform standardizes column by column; the graph scales them together."""
    import onnx
    from sklearn.pipeline import Pipeline

    from lambeam.registry import InputColumn, Signature
    from lambeam.registry.onnx_export import export_onnx

    rng = np.random.default_rng(3)
    names = [f"x{i}" for i in range(6)]
    data = pd.DataFrame(rng.normal(5, 3, (200, 6)), columns=names)
    data["city"] = rng.choice(["lisbon", "oslo", "quito"], 200)
    y = np.where(data["x0"] - data["x4"] + (data["city"] == "oslo") > 0.5, "yes", "no")
    one = lambda: Pipeline([("standardize", StandardScaler())])  # noqa: E731
    blocks = [(n, one(), [n]) for n in names[:3]]
    blocks += [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])]
    blocks += [(n, one(), [n]) for n in names[3:5]]
    blocks += [("x5", StandardScaler(with_mean=False), ["x5"])]  # not like its neighbours
    pipeline = Pipeline(
        [("columns", ColumnTransformer(blocks)), ("model", LogisticRegression(max_iter=500))]
    ).fit(data, y)
    sig = Signature((*(InputColumn(n, "number") for n in names), InputColumn("city", "string")))
    export = export_onnx(pipeline, sig, data.head(80))
    assert export.status == "trusted", export.check
    ops = [node.op_type for node in onnx.load_from_string(export.model).graph.node]
    # x0-x2 scaled together, x3-x4 together, x5 (no mean) alone: three Sub and three Div (a
    # fourth Sub is the model's own, 1 - p), where one scaler per column would make six and six.
    assert ops.count("Sub") == 4 and ops.count("Div") == 3, ops
    # The pipeline itself is left as it was: still six scalers, one per column.
    assert len(pipeline.named_steps["columns"].transformers_) == 7
    # Blocks weighed by name are left apart (a merged block would lose its weight).
    pipeline.named_steps["columns"].transformer_weights = {"x0": 2.0, "x3": 3.0}
    weighed = export_onnx(pipeline, sig, data.head(80))
    assert weighed.status == "trusted", weighed.check


def test_a_log_column_converts_as_log_of_one_plus(registry: Project) -> None:
    """The `log` operation's block (log1p, then standardize) is Log(X + 1) in the graph."""
    data = TRAIN.assign(age=TRAIN["age"] * 1e3 - 17_999.5)  # from 0.5 up: log1p's steep end
    held_out = HELD_OUT.assign(age=HELD_OUT["age"] * 1e3 - 17_999.5)
    log = Pipeline(
        [
            ("log", FunctionTransformer(np.log1p, validate=True, feature_names_out="one-to-one")),
            ("standardize", StandardScaler()),
        ]
    )
    steps = ColumnTransformer([("age", log, ["age"]), ("city", OneHotEncoder(), ["city"])])
    pipeline = fitted(LinearRegression(), data, regression_target(data), steps=steps)
    version = register(
        registry.db, registry.store, pipeline, task="regression", sample=held_out, model="logged"
    )
    assert version.onnx_status == "trusted", version.onnx_check
    assert version.onnx_check["input_type"] == "double"
    (values,) = _run_onnx(version, held_out)
    np.testing.assert_allclose(values.ravel(), pipeline.predict(held_out), rtol=1e-9)
