"""Classifiers: labels, and probabilities or decision scores when the estimator gives them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics
from sklearn.base import is_classifier

from lambeam.storage.jsonable import jsonable
from lambeam.training.tasks.base import Task

__all__ = ["Classification"]


class Classification(Task):
    """Predicts a class; scored by accuracy, precision, recall, f1, log loss and ROC AUC."""

    name = "classification"
    supervised = True
    default_scoring = "accuracy"
    metrics = ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc", "confusion_matrix")

    def claims(self, estimator: Any) -> bool:
        return bool(is_classifier(estimator))

    def label_problem(self, y: Any) -> str | None:
        return "has only one class" if len(np.unique(y.astype(str))) < 2 else None

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
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

    def outputs(self, estimator: Any) -> dict[str, Any]:
        return {
            "classes": [jsonable(c) for c in estimator.classes_],
            "probabilities": hasattr(estimator, "predict_proba"),
        }


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
