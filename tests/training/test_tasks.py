"""Task kinds: which estimators each claims, and which way each of its metrics ranks."""

from __future__ import annotations

import pytest
from sklearn.base import BaseEstimator

from lambeam.errors import TrainingError
from lambeam.registry import metric_direction
from lambeam.training import TASKS, build_estimator
from lambeam.training.tasks import get_task, task_of

# Every metric training gives, and how models compare must rank it. A new metric fails here
# until its direction is decided (in the registry's metric_direction).
DIRECTIONS = {
    "accuracy": "max",
    "precision": "max",
    "recall": "max",
    "f1": "max",
    "log_loss": "min",
    "roc_auc": "max",
    "rmse": "min",
    "mae": "min",
    "r2": "max",
    "clusters": None,
    "silhouette": "max",
    "inertia": "min",
    "anomaly_rate": None,
    "mean_score": None,
    "components": None,
    "explained_variance": "max",
    "test_rows": None,
}


def test_every_metric_training_gives_ranks_the_right_way() -> None:
    given = {metric for task in TASKS for metric in task.metrics} - {"confusion_matrix"}
    assert given | {"test_rows"} == set(DIRECTIONS)
    assert {metric: metric_direction(metric) for metric in DIRECTIONS} == DIRECTIONS


@pytest.mark.parametrize(
    ("path", "task"),
    [
        ("sklearn.svm.LinearSVC", "classification"),
        ("sklearn.linear_model.Ridge", "regression"),
        ("sklearn.neighbors.LocalOutlierFactor", "anomaly_detection"),
        ("sklearn.cluster.MiniBatchKMeans", "clustering"),
        ("sklearn.decomposition.TruncatedSVD", "decomposition"),
    ],
)
def test_each_task_claims_its_estimators(path: str, task: str) -> None:
    assert task_of(build_estimator(path, {}), path) is get_task(task)


class _FitsOnly(BaseEstimator):
    """Fits, but neither predicts nor transforms."""

    def fit(self, X: object, y: object = None) -> _FitsOnly:
        return self


def test_an_estimator_of_no_known_task_is_named() -> None:
    with pytest.raises(TrainingError, match=r"cannot tell what task x\.FitsOnly does"):
        task_of(_FitsOnly(), "x.FitsOnly")
    with pytest.raises(TrainingError, match="unknown task 'ranking'"):
        get_task("ranking")
