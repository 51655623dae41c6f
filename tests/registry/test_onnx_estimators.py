"""Every estimator kind the README names, registered through the registry, with its ONNX status.

Trusted means what serving needs: the graph, fed as a serving function feeds it, gives
scikit-learn's labels on every held-out row and its numbers within the recorded tolerance.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from lambeam.project import Project
from lambeam.registry import onnx_feed
from lambeam.registry.onnx_export import CRITERION
from tests.registry.fitted import (
    class_labels,
    fitted,
    frame,
    register,
    regression_target,
    transform,
)

TRAIN, HELD_OUT = frame(rows=400, seed=0), frame(rows=300, seed=1)
C, R = "classification", "regression"

# (id, estimator, task, ONNX status it must end with)
ESTIMATORS = [
    ("logistic", LogisticRegression(max_iter=500), C, "trusted"),
    ("linear", LinearRegression(), R, "trusted"),
    ("ridge", Ridge(), R, "trusted"),
    ("linear_svc", LinearSVC(), C, "trusted"),
    ("svc", SVC(), C, "trusted"),
    ("svc_proba", SVC(probability=True, random_state=0), C, "trusted"),
    ("svr", SVR(), R, "trusted"),
    ("tree", DecisionTreeClassifier(random_state=0), C, "trusted"),
    ("forest", RandomForestClassifier(n_estimators=60, random_state=0), C, "trusted"),
    ("extra_trees", ExtraTreesClassifier(n_estimators=40, random_state=0), C, "trusted"),
    ("forest_regressor", RandomForestRegressor(n_estimators=30, random_state=0), R, "trusted"),
    ("boosting", GradientBoostingClassifier(n_estimators=30, random_state=0), C, "trusted"),
    ("hist_boosting", HistGradientBoostingClassifier(random_state=0), C, "trusted"),
    ("hist_boosting_regressor", HistGradientBoostingRegressor(random_state=0), R, "trusted"),
    ("kmeans", KMeans(n_clusters=3, n_init=2, random_state=0), "clustering", "trusted"),
    ("isolation", IsolationForest(n_estimators=30, random_state=0), "anomaly", "trusted"),
    ("pca", PCA(n_components=2), "decomposition", "trusted"),
    ("mlp", MLPClassifier(max_iter=300, random_state=0), C, "trusted"),
    ("mlp_regressor", MLPRegressor(max_iter=300, random_state=0), R, "trusted"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("estimator", "task", "status"),
    [pytest.param(e, t, s, id=i) for i, e, t, s in ESTIMATORS],
)
def test_each_readme_estimator_ends_with_its_onnx_status(
    project: Project, estimator, task: str, status: str
) -> None:
    y = class_labels(TRAIN) if task == C else regression_target(TRAIN) if task == R else None
    pipeline = fitted(estimator, TRAIN, y)
    version = register(project.db, project.store, pipeline, task=task, sample=HELD_OUT)
    assert version.onnx_status == status, version.onnx_check
    check = version.onnx_check
    assert check["criterion"] == CRITERION and check["tolerance"] == {"atol": 1e-4, "rtol": 1e-4}
    assert check["rows"] == len(HELD_OUT) and check["label_agreement"] == 1.0
    # Served as a function serves it: the labels are scikit-learn's, row for row.
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feed(version.signature, HELD_OUT, check["input_type"]))
    if task in (C, "clustering", "anomaly"):
        assert list(np.ravel(outputs[0])) == list(pipeline.predict(HELD_OUT))


# ONNX Runtime implements the ONNX-ML SVMRegressor for float32 only: SVR's graph is float32.
FLOAT32_ONLY = {"svr"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("kind", "estimator", "task"), [pytest.param(i, e, t, id=i) for i, e, t, _ in ESTIMATORS]
)
def test_each_estimator_runs_in_float64_after_a_one_hot_block(
    project: Project, kind: str, estimator, task: str
) -> None:
    """A transform whose first block is a one-hot (float32 in skl2onnx), as the quickstart's
    penguins have: the logistic regression, SVCs, MLP, k-means and HistGradientBoosting
    classifier fell back to float32 graphs (outputs typed by that first block)."""
    one_hot_first = transform()
    one_hot_first.transformers = one_hot_first.transformers[::-1]
    y = class_labels(TRAIN) if task == C else regression_target(TRAIN) if task == R else None
    pipeline = fitted(estimator, TRAIN, y, steps=one_hot_first)
    version = register(project.db, project.store, pipeline, task=task, sample=HELD_OUT)
    assert version.onnx_status == "trusted", version.onnx_check
    want = "float" if kind in FLOAT32_ONLY else "double"
    assert version.onnx_check["input_type"] == want, version.onnx_check


def dataset_transform() -> ColumnTransformer:
    """A dataset's shape: its imputer is a constant (an object array of statistics)."""
    amount = Pipeline(
        [
            (
                "impute",
                SimpleImputer(strategy="constant", fill_value=5000.0, keep_empty_features=True),
            ),
            ("standardize", StandardScaler()),
        ]
    )
    return ColumnTransformer(
        [
            ("amount", amount, ["amount"]),
            ("age", StandardScaler(), ["age"]),
            ("city", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city"]),
        ]
    )


@pytest.mark.parametrize("steps", [None, dataset_transform()], ids=["median", "dataset_constant"])
def test_a_forest_serves_on_onnx_with_exactly_scikit_learns_labels(
    project: Project, steps: ColumnTransformer | None
) -> None:
    """Imputed, standardized numbers far from zero: a float32 transform routed rows to other
    leaves; the graph now computes the transform in float64 and casts as scikit-learn does
    (the quickstart's penguins forest disagreed: its constant imputer was not rewritten)."""
    rng = np.random.default_rng(5)
    train, held_out = frame(rows=1500, seed=2), frame(rows=1000, seed=3)
    for data in (train, held_out):
        data["amount"] = 5000 + 1000 * rng.normal(size=len(data))
        data.loc[::7, "amount"] = np.nan
    y = np.where(train["amount"].fillna(5000) + 30 * train["age"] > 6200, "yes", "no")
    # An odd number of fully grown trees: no row's vote is tied, so every label must be equal.
    forest = RandomForestClassifier(n_estimators=101, random_state=0)
    pipeline = fitted(forest, train, y, steps=steps)
    version = register(project.db, project.store, pipeline, sample=held_out)
    check = version.onnx_check
    assert version.onnx_status == "trusted", check
    assert check["input_type"] == "double"  # the imputer no longer forces float32
    assert check["tied_rows"] == 0 and check["label_agreement"] == 1.0
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, onnx_feed(version.signature, held_out, "double"))
    assert list(labels) == list(pipeline.predict(held_out))
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), atol=1e-6)


def test_registering_says_where_its_time_went(project: Project) -> None:
    pipeline = fitted(
        RandomForestClassifier(n_estimators=10, random_state=0), TRAIN, class_labels(TRAIN)
    )
    version = register(project.db, project.store, pipeline, sample=HELD_OUT)
    timing = version.timing
    assert timing is not None
    parts = [timing.skops_s, timing.onnx_convert_s, timing.onnx_check_s, timing.store_s]
    assert all(part > 0 for part in parts)
    assert sum(parts) <= timing.total_s
    # Not stored: a version read back has no timing, and its record is the same otherwise.
    from lambeam.registry import get_model_version

    again = get_model_version(project.db, project.store, version.ref)
    assert again.timing is None and again.to_dict() == version.to_dict()
