"""The kinds of estimator a training job can fit, one class per kind (see `base.Task`)."""

from __future__ import annotations

from typing import Any

from lambeam.errors import TrainingError
from lambeam.training.tasks.anomaly import AnomalyDetection
from lambeam.training.tasks.base import Task
from lambeam.training.tasks.classification import Classification
from lambeam.training.tasks.clustering import Clustering
from lambeam.training.tasks.decomposition import Decomposition
from lambeam.training.tasks.regression import Regression

__all__ = [
    "TASKS",
    "AnomalyDetection",
    "Classification",
    "Clustering",
    "Decomposition",
    "Regression",
    "Task",
    "get_task",
    "task_of",
]

# In the order they are asked to claim an estimator: a classifier or regressor may also cluster
# or transform, and anything that fits and transforms is a decomposition.
TASKS: tuple[Task, ...] = (
    Classification(),
    Regression(),
    AnomalyDetection(),
    Clustering(),
    Decomposition(),
)
_BY_NAME = {task.name: task for task in TASKS}


def task_of(estimator: Any, path: str) -> Task:
    """The task `estimator` (imported from `path`) does."""
    for task in TASKS:
        if task.claims(estimator):
            return task
    raise TrainingError(
        f"cannot tell what task {path} does: it is not a classifier, regressor, clusterer,"
        " outlier detector or transformer"
    )


def get_task(name: str) -> Task:
    """The task called `name` (as a model version records it)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise TrainingError(f"unknown task {name!r}; lambeam knows {', '.join(_BY_NAME)}") from None
