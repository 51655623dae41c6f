"""Outlier detectors: -1 for an anomaly, 1 for a normal row."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_outlier_detector

from lambeam.training.tasks.base import Task

__all__ = ["AnomalyDetection"]


class AnomalyDetection(Task):
    """Flags anomalous rows; described by the share flagged and the mean normality score."""

    name = "anomaly_detection"
    metrics = ("anomaly_rate", "mean_score")

    def claims(self, estimator: Any) -> bool:
        return bool(is_outlier_detector(estimator))

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
        flags = estimator.predict(X)
        out: dict[str, Any] = {"anomaly_rate": float(np.mean(flags == -1))}
        if hasattr(estimator, "score_samples"):
            out["mean_score"] = float(np.mean(estimator.score_samples(X)))
        return out
