"""Scores of a fitted estimator on a dataset version's test split.

What each task measures is its class's `scores` (lambeam.training.tasks); which way each metric
ranks (rmse lower, f1 higher, test_rows not at all) is the registry's `metric_direction`: versions
are compared there, and the registry may not import training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lambeam.storage.jsonable import jsonable
from lambeam.training.tasks import Task

__all__ = ["score"]


def score(task: Task, estimator: Any, X: Any, y: np.ndarray | None) -> dict[str, Any]:
    """The task's metrics on (X, y) and the row count; JSON-able values only."""
    if X.shape[0] == 0:
        return {"test_rows": 0}
    result = {"test_rows": int(X.shape[0]), **task.scores(estimator, X, y)}
    return {k: jsonable(v) for k, v in result.items()}
