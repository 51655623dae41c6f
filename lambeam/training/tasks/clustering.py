"""Clusterers: a cluster per row, described by their count, silhouette and inertia."""

from __future__ import annotations

from typing import Any

from sklearn import metrics
from sklearn.base import is_clusterer

from lambeam.training.tasks.base import Task

__all__ = ["Clustering"]

# The silhouette is quadratic in rows: a sample of this many keeps scoring a big test split fast.
_SILHOUETTE_SAMPLE = 5000


class Clustering(Task):
    """Assigns each row a cluster; no label needed."""

    name = "clustering"
    metrics = ("clusters", "silhouette", "inertia")

    def claims(self, estimator: Any) -> bool:
        return bool(is_clusterer(estimator))

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
        labels = estimator.predict(X) if hasattr(estimator, "predict") else estimator.fit_predict(X)
        out: dict[str, Any] = {"clusters": len(set(labels))}
        if 1 < len(set(labels)) < X.shape[0]:
            out["silhouette"] = metrics.silhouette_score(
                X, labels, sample_size=min(_SILHOUETTE_SAMPLE, X.shape[0]), random_state=0
            )
        if hasattr(estimator, "inertia_"):
            out["inertia"] = estimator.inertia_
        return out
