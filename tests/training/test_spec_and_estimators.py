"""Training specs and estimators: parsing, import paths, task inference, one-line errors."""

from __future__ import annotations

import pytest

from lambeam.errors import ConfigError, TrainingError
from lambeam.training import build_estimator, infer_task, parse_train_spec


@pytest.mark.parametrize(
    ("path", "task"),
    [
        ("sklearn.linear_model.LinearRegression", "regression"),
        ("sklearn.linear_model.LogisticRegression", "classification"),
        ("sklearn.svm.SVC", "classification"),
        ("sklearn.svm.SVR", "regression"),
        ("sklearn.ensemble.RandomForestClassifier", "classification"),
        ("sklearn.ensemble.GradientBoostingRegressor", "regression"),
        ("sklearn.cluster.KMeans", "clustering"),
        ("sklearn.ensemble.IsolationForest", "anomaly_detection"),
        ("sklearn.decomposition.PCA", "decomposition"),
        ("sklearn.neural_network.MLPClassifier", "classification"),
    ],
)
def test_task_is_inferred_from_the_estimator(path: str, task: str) -> None:
    assert infer_task(build_estimator(path, {})) == task


def test_factory_function_and_params() -> None:
    est = build_estimator("tests.training.factories:make_forest", {"n_estimators": 7})
    assert est.n_estimators == 7 and est.max_depth == 3


def test_none_string_becomes_none() -> None:
    assert (
        build_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": "none"}).max_depth
        is None
    )


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "sklearn.ensemble.RandomForestClasifier",
            {},
            "unknown estimator 'sklearn.ensemble.RandomForestClasifier'",
        ),
        ("no_such_module.Model", {}, "cannot import 'no_such_module'"),
        ("RandomForest", {}, "not an import path"),
        ("sklearn.ensemble.RandomForestClassifier", {"n_trees": 3}, "has no parameter 'n_trees'"),
        ("collections.OrderedDict", {}, "not a scikit-learn estimator"),
    ],
)
def test_bad_estimators_are_named(path: str, params: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build_estimator(path, params)


def test_spec_parses_search() -> None:
    spec = parse_train_spec(
        "rf",
        {
            "dataset": "d:2",
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "search": {"method": "random", "n_iter": 3, "params": {"max_depth": [2, "none"]}},
        },
    )
    assert spec.model == "rf" and spec.search is not None
    assert spec.search.params["max_depth"] == [2, None]
    assert len(spec.spec_hash) == 64


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"estimator": "x.Y"}, "`dataset` is required"),
        ({"dataset": "d", "estimator": "x.Y", "parms": {}}, "unknown key 'parms'"),
        (
            {
                "dataset": "d",
                "estimator": "x.Y",
                "search": {"method": "bayes", "params": {"a": [1]}},
            },
            "method must be",
        ),
        (
            {"dataset": "d", "estimator": "x.Y", "search": {"params": {"a": 1}}},
            "params.a must be a non-empty list",
        ),
        (
            {"dataset": "d", "estimator": "x.Y", "search": {"params": {"a": [1]}, "cv": 1}},
            "`cv` must be",
        ),
    ],
)
def test_bad_specs_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=r"\[train\.job\].*" + message.replace("(", r"\(")):
        parse_train_spec("job", raw)
