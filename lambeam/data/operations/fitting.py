"""Fitted scikit-learn objects built from full-pass statistics, never by fitting on the data.

Helpers the operations share: a one-column frame, a stateless transformer fitted on one value,
and the input bookkeeping `fit` would have set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import FunctionTransformer

__all__ = ["fitted", "frame", "mark_fitted", "object_array"]


def fitted(transformer: FunctionTransformer, name: str | None) -> FunctionTransformer:
    """Fit a stateless numeric transformer on one value (named when it is a block's first step)."""
    sample = frame(name or "x", [1.0], True)
    return transformer.fit(sample if name is not None else sample.to_numpy())


def mark_fitted(estimator: Any, name: str | None) -> None:
    """Set the input bookkeeping `fit` would have set (one column, named when it meets a frame)."""
    estimator.n_features_in_ = 1
    if name is not None:
        estimator.feature_names_in_ = np.array([name], dtype=object)


def object_array(items: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def frame(name: str, values: list[Any], number: bool) -> pd.DataFrame:
    """A one-column frame of `values`, float64 or object."""
    return pd.DataFrame({name: np.array(values, dtype=np.float64 if number else object)})
