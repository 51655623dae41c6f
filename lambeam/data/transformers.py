"""The lambeam transformer that a fitted transform starts with when a pipeline derives columns."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from lambeam.data.frames import canonical_frame
from lambeam.data.steps import apply_steps

__all__ = ["DeriveColumns"]


class DeriveColumns(TransformerMixin, BaseEstimator):
    """Re-apply a pipeline's derive and function steps, so a served model takes raw columns.

    `steps` is a list of {"derive": {column: expression}} or {"function": "module:fn"}; filters
    never appear here (they only choose the pipeline's rows). Stateless: `fit` learns nothing.
    """

    def __init__(self, steps: list[dict[str, Any]] | None = None) -> None:
        self.steps = steps

    def fit(self, X: Any, y: Any = None) -> DeriveColumns:
        self.n_steps_ = len(self.steps or [])
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        frame = canonical_frame(X if isinstance(X, pd.DataFrame) else pd.DataFrame(X))
        return apply_steps(frame, self.steps or [], place="transform ")

    def referenced_callables(self) -> list[str]:
        """The "module:function" steps this transformer imports and calls (audited on load)."""
        return [step["function"] for step in self.steps or [] if "function" in step]

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return input_features
