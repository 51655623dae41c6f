"""Estimators named by import path, and the task each one does."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator, clone

from lambeam.errors import TrainingError

__all__ = ["build_estimator", "estimator_path", "infer_task"]


def build_estimator(path: str, params: Mapping[str, Any]) -> BaseEstimator:
    """The estimator at `path` (`package.module.Class` or `module:factory`) with `params` set."""
    target = _import(path)
    try:
        estimator = target() if callable(target) else None
    except TypeError as exc:
        raise TrainingError(f"estimator {path!r} cannot be made without arguments: {exc}") from None
    if not isinstance(estimator, BaseEstimator):
        raise TrainingError(
            f"{path!r} is not a scikit-learn estimator (got {type(estimator).__name__}); name an "
            "estimator class such as sklearn.ensemble.RandomForestClassifier or a module:function "
            "that returns one"
        )
    values = {
        k: (None if isinstance(v, str) and v.lower() == "none" else v) for k, v in params.items()
    }
    valid = estimator.get_params(deep=True)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise TrainingError(
            f"estimator {path!r} has no parameter {unknown[0]!r}; it takes "
            + ", ".join(sorted(k for k in valid if "__" not in k))
        )
    return clone(estimator).set_params(**values)


def estimator_path(estimator: Any) -> str:
    """The import path of the estimator's class, as skops names it."""
    cls = type(estimator)
    return f"{cls.__module__}.{cls.__qualname__}"


def infer_task(estimator: Any) -> str:
    """The name of the task `estimator` does: classification, regression, clustering,
    anomaly_detection or decomposition."""
    from lambeam.training.tasks import task_of

    return task_of(estimator, estimator_path(estimator)).name


def _import(path: str) -> Any:
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise TrainingError(
            f"estimator {path!r} is not an import path; use e.g. sklearn.linear_model.LogisticRegression"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(
            f"unknown estimator {path!r}: cannot import {module_name!r} ({exc})"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise TrainingError(
            f"unknown estimator {path!r}: {module_name!r} has no {attr!r}"
        ) from None
