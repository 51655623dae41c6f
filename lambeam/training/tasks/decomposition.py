"""Transformers fitted on their own (PCA, truncated SVD, …): rows in, components out."""

from __future__ import annotations

from typing import Any

import numpy as np

from lambeam.training.tasks.base import Task

__all__ = ["Decomposition"]


class Decomposition(Task):
    """Projects rows onto components; described by their count and the variance they explain."""

    name = "decomposition"
    metrics = ("components", "explained_variance")

    def claims(self, estimator: Any) -> bool:
        # Asked last: anything else that fits and transforms (a classifier may transform too).
        return hasattr(estimator, "transform") and hasattr(estimator, "fit")

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"components": int(estimator.transform(X[:1]).shape[1])}
        ratio = getattr(estimator, "explained_variance_ratio_", None)
        if ratio is not None:
            out["explained_variance"] = float(np.sum(ratio))
        return out
