"""Versions side by side: metrics, params, data, ONNX, and the best per metric."""

from __future__ import annotations

import json

import pytest
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression

from lambeam.errors import ConfigError, ModelNotFoundError
from lambeam.project import Project
from lambeam.registry import compare_model_versions, metric_direction, set_alias
from tests.registry.fitted import (
    class_labels,
    fitted,
    frame,
    log_pipeline,
    register,
    regression_target,
)

DATA = frame(rows=80)


def test_compare_side_by_side(registry: Project) -> None:
    db, store = registry.db, registry.store
    y = class_labels(DATA)
    register(
        db,
        store,
        fitted(LogisticRegression(C=1.0), DATA, y),
        metrics={"accuracy": 0.80, "log_loss": 0.40, "f1": 0.7, "test_rows": 16},
        sample=DATA,
    )
    register(
        db,
        store,
        fitted(LogisticRegression(C=0.1), DATA, y),
        metrics={"accuracy": 0.85, "log_loss": 0.45},
        sample=DATA,
    )
    register(
        db,
        store,
        log_pipeline(DATA, y, LogisticRegression()),
        metrics={"accuracy": 0.85, "log_loss": 0.30, "f1": None},
    )
    set_alias(db, "churn", "prod", 2)

    result = compare_model_versions(db, store, ["churn:1", "churn@prod", "churn"])
    assert result["refs"] == ["churn:1", "churn:2", "churn:3"]
    assert json.loads(json.dumps(result)) == result
    assert result["metrics"] == {
        "accuracy": {"churn:1": 0.80, "churn:2": 0.85, "churn:3": 0.85},
        "f1": {"churn:1": 0.7, "churn:2": None, "churn:3": None},
        "log_loss": {"churn:1": 0.40, "churn:2": 0.45, "churn:3": 0.30},
        "test_rows": {"churn:1": 16, "churn:2": None, "churn:3": None},
    }
    # Ties go to the earliest ref given; log_loss is better lower; a row count does not rank,
    # nor does a metric only one version has (f1).
    assert result["best"] == {"accuracy": "churn:2", "log_loss": "churn:3"}
    assert result["tied"] == {"accuracy": ["churn:2", "churn:3"]}
    assert result["direction"] == {"accuracy": "max", "log_loss": "min"}
    assert result["unranked"] is None
    assert result["params"]["C"] == {"churn:1": 1.0, "churn:2": 0.1, "churn:3": 1.0}
    versions = result["versions"]
    assert [v["ref"] for v in versions] == result["refs"]
    assert [v["onnx_status"] for v in versions] == ["trusted", "trusted", "unconvertible"]
    assert versions[1]["aliases"] == ["prod"] and versions[0]["metrics"]["accuracy"] == 0.80
    assert (
        versions[0]["estimator"].endswith("LogisticRegression") and versions[0]["dataset"] is None
    )


def test_compare_across_models_and_errors(registry: Project) -> None:
    db, store = registry.db, registry.store
    register(
        db,
        store,
        fitted(LinearRegression(), DATA, regression_target(DATA)),
        model="price",
        task="regression",
        metrics={"rmse": 2.0, "r2": 0.9},
    )
    register(
        db,
        store,
        fitted(LinearRegression(fit_intercept=False), DATA, regression_target(DATA)),
        model="price",
        task="regression",
        metrics={"rmse": 3.0, "r2": 0.8},
    )
    result = compare_model_versions(db, store, ["price:2", "price:1", "price"])
    assert result["refs"] == ["price:2", "price:1"]  # `price` is price:2 again
    assert result["best"] == {"r2": "price:1", "rmse": "price:1"}
    with pytest.raises(ModelNotFoundError, match="no version 5"):
        compare_model_versions(db, store, ["price:1", "price:5"])
    with pytest.raises(ConfigError):
        compare_model_versions(db, store, [])
    with pytest.raises(ConfigError, match="two or more different model versions; price:2, price"):
        compare_model_versions(db, store, ["price:2", "price"])  # both price:2


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("rmse", "min"),
        ("mae", "min"),
        ("log_loss", "min"),
        ("test_rmse", "min"),
        ("accuracy", "max"),
        ("r2", "max"),
        ("neg_mean_squared_error", "max"),
        ("roc_auc", "max"),
        ("mean_absolute_error", "min"),
        ("inertia", "min"),
        ("silhouette", "max"),
        ("test_rows", None),
        ("anomaly_rate", None),
        ("mean_score", None),
        ("explained_variance", "max"),
        ("clusters", None),
    ],
)
def test_metric_direction(metric: str, direction: str | None) -> None:
    assert metric_direction(metric) == direction


def test_versions_of_different_tasks_are_refused_and_without_a_common_metric_unranked(
    registry: Project,
) -> None:
    db, store = registry.db, registry.store
    register(db, store, fitted(LogisticRegression(), DATA, class_labels(DATA)), model="credit")
    register(
        db,
        store,
        fitted(LinearRegression(), DATA, regression_target(DATA)),
        model="ames",
        task="regression",
        metrics={"rmse": 2.0, "r2": 0.9},
    )
    with pytest.raises(
        ConfigError,
        match=r"cannot compare credit:1 with ames:1: credit:1 does classification and ames:1"
        r" does regression",
    ):
        compare_model_versions(db, store, ["credit:1", "ames:1"])
    register(
        db,
        store,
        fitted(LogisticRegression(C=0.1), DATA, class_labels(DATA)),
        model="credit",
        metrics={"f1": 0.5, "test_rows": 20},
    )
    unranked = compare_model_versions(db, store, ["credit:1", "credit:2"])
    assert unranked["best"] == {} and set(unranked["metrics"]) == {"accuracy", "f1", "test_rows"}
    assert unranked["unranked"] == (
        "no metric in common ranks these versions (ranked metrics: credit:1: accuracy;"
        " credit:2: f1)"
    )


def test_anomaly_detectors_compare_side_by_side_unranked(registry: Project) -> None:
    """Their anomaly_rate and mean_score describe a version rather than rank it: the versions
    are shown, params and all, with nothing called best (they were refused outright)."""
    db, store = registry.db, registry.store
    for trees in (20, 40):
        register(
            db,
            store,
            fitted(IsolationForest(n_estimators=trees, random_state=0), DATA),
            model="iso",
            task="anomaly",
            metrics={"anomaly_rate": 0.1, "mean_score": 0.02 * trees},
        )
    comparison = compare_model_versions(db, store, ["iso:1", "iso:2"])
    assert comparison["best"] == {} and comparison["params"]["n_estimators"] == {
        "iso:1": 20,
        "iso:2": 40,
    }
    assert comparison["unranked"] == (
        "no metric in common ranks these versions (ranked metrics: iso:1: none; iso:2: none)"
    )
