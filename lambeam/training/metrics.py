"""Scores of a fitted estimator on a dataset version's test split, by task.

Which way each metric ranks (rmse lower, f1 higher, test_rows not at all) is the registry's
`metric_direction`: versions are compared there, and the registry may not import training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import metrics

from lambeam.storage.jsonable import jsonable

__all__ = ["score"]

_SILHOUETTE_SAMPLE = 5000


def score(task: str, estimator: Any, X: Any, y: np.ndarray | None) -> dict[str, Any]:
    """The task's metrics on (X, y); JSON-able values only."""
    if X.shape[0] == 0:
        return {"test_rows": 0}
    result: dict[str, Any] = {"test_rows": int(X.shape[0])}
    if task == "classification":
        result.update(_classification(estimator, X, y))
    elif task == "regression":
        result.update(_regression(estimator, X, y))
    elif task == "clustering":
        result.update(_clustering(estimator, X))
    elif task == "anomaly_detection":
        result.update(_anomaly(estimator, X))
    elif task == "decomposition":
        result.update(_decomposition(estimator, X))
    return {k: jsonable(v) for k, v in result.items()}


def _classification(estimator: Any, X: Any, y: Any) -> dict[str, Any]:
    predicted = estimator.predict(X)
    labels = list(estimator.classes_)
    binary = len(labels) == 2
    average = "binary" if binary else "macro"
    extra = {"pos_label": labels[1]} if binary else {}
    out: dict[str, Any] = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "precision": metrics.precision_score(
            y, predicted, average=average, zero_division=0, **extra
        ),
        "recall": metrics.recall_score(y, predicted, average=average, zero_division=0, **extra),
        "f1": metrics.f1_score(y, predicted, average=average, zero_division=0, **extra),
        "confusion_matrix": {
            "labels": [str(v) for v in labels],
            "matrix": metrics.confusion_matrix(y, predicted, labels=labels).tolist(),
        },
    }
    scores = None
    if hasattr(estimator, "predict_proba"):
        try:
            scores = estimator.predict_proba(X)
        except (AttributeError, NotImplementedError):  # e.g. SVC(probability=False)
            scores = None
    if scores is not None:
        out["log_loss"] = metrics.log_loss(y, scores, labels=labels)
    elif hasattr(estimator, "decision_function"):
        scores = estimator.decision_function(X)
    if scores is not None and len(set(y)) > 1:
        if binary:
            positive = scores[:, 1] if np.ndim(scores) == 2 else scores
            out["roc_auc"] = metrics.roc_auc_score(y, positive)
        elif np.ndim(scores) == 2 and len(set(y)) == len(labels):
            probs = scores if "log_loss" in out else _softmax(scores)
            out["roc_auc"] = metrics.roc_auc_score(y, probs, multi_class="ovr", labels=labels)
    return out


def _regression(estimator: Any, X: Any, y: Any) -> dict[str, Any]:
    predicted = estimator.predict(X)
    return {
        "rmse": math.sqrt(metrics.mean_squared_error(y, predicted)),
        "mae": metrics.mean_absolute_error(y, predicted),
        "r2": metrics.r2_score(y, predicted),
    }


def _clustering(estimator: Any, X: Any) -> dict[str, Any]:
    labels = estimator.predict(X) if hasattr(estimator, "predict") else estimator.fit_predict(X)
    out: dict[str, Any] = {"clusters": len(set(labels))}
    if 1 < len(set(labels)) < X.shape[0]:
        out["silhouette"] = metrics.silhouette_score(
            X, labels, sample_size=min(_SILHOUETTE_SAMPLE, X.shape[0]), random_state=0
        )
    if hasattr(estimator, "inertia_"):
        out["inertia"] = estimator.inertia_
    return out


def _anomaly(estimator: Any, X: Any) -> dict[str, Any]:
    flags = estimator.predict(X)
    out: dict[str, Any] = {"anomaly_rate": float(np.mean(flags == -1))}
    if hasattr(estimator, "score_samples"):
        out["mean_score"] = float(np.mean(estimator.score_samples(X)))
    return out


def _decomposition(estimator: Any, X: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"components": int(estimator.transform(X[:1]).shape[1])}
    ratio = getattr(estimator, "explained_variance_ratio_", None)
    if ratio is not None:
        out["explained_variance"] = float(np.sum(ratio))
    return out


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
