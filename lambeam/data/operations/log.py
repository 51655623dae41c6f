"""log: log1p of a number column (values must be above -1)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.preprocessing import FunctionTransformer

from lambeam.data.operations.base import Operation
from lambeam.data.operations.fitting import fitted
from lambeam.errors import ColumnError

if TYPE_CHECKING:
    from lambeam.data.analyzers import ColumnPlan

__all__ = ["Log"]


@dataclasses.dataclass(frozen=True)
class Log(Operation):
    """ "log": log1p, refusing values at or below -1 (in the data, and at serving)."""

    name: ClassVar[str] = "log"
    column_type: ClassVar[str | None] = "number"
    checks_values: ClassVar[bool] = True

    def apply(self, values: np.ndarray, plan: ColumnPlan, place: str) -> np.ndarray:
        if np.nanmin(values, initial=0.0) <= -1:
            raise ColumnError(
                f"{place} columns.{plan.name}: log (log1p) needs values > -1, "
                f"found {np.nanmin(values)}; clip or filter them first"
            )
        return np.log1p(values)

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        log = FunctionTransformer(np.log1p, validate=True, feature_names_out="one-to-one")
        return [("log", fitted(log, column if first else None))]

    def lower_bound(self, bound: float | None) -> float | None:
        # log1p needs its input above -1, or above expm1(b) for its output to be above b.
        return -1.0 if bound is None else math.expm1(bound)
