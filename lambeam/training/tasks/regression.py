"""Regressors: a number per row, scored by RMSE, MAE and R²."""

from __future__ import annotations

import math
from typing import Any

from sklearn import metrics
from sklearn.base import is_regressor

from lambeam.training.tasks.base import Task

__all__ = ["Regression"]


class Regression(Task):
    """Predicts a number; scored by root mean squared error, mean absolute error and R²."""

    name = "regression"
    supervised = True
    default_scoring = "r2"
    metrics = ("rmse", "mae", "r2")

    def claims(self, estimator: Any) -> bool:
        return bool(is_regressor(estimator))

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
        predicted = estimator.predict(X)
        return {
            "rmse": math.sqrt(metrics.mean_squared_error(y, predicted)),
            "mae": metrics.mean_absolute_error(y, predicted),
            "r2": metrics.r2_score(y, predicted),
        }
