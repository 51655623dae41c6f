"""standardize: (x - mean) / std with the full data's moments, as a fitted StandardScaler."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.preprocessing import StandardScaler

from lambeam.data.operations.base import Operation
from lambeam.data.operations.fitting import mark_fitted
from lambeam.data.partials import Moments, json_number

if TYPE_CHECKING:
    from lambeam.data.partials import ColumnPartial

__all__ = ["Standardize"]


@dataclasses.dataclass(frozen=True)
class Standardize(Operation):
    """ "standardize"."""

    name: ClassVar[str] = "standardize"
    encoder: ClassVar[bool] = True
    column_type: ClassVar[str | None] = "number"

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        part.moments = Moments()
        part.moments.add(values)

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        if part is None:
            return
        n, mean, var = part.moments.result() if part.moments else (0, math.nan, math.nan)
        entry.update(count=n, mean=json_number(mean), var=json_number(var))

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        scaler = StandardScaler()
        # mean_/var_/scale_ are the full-data moments from pass 2 (population variance, as
        # StandardScaler.fit computes); a zero variance scales by 1, as sklearn does.
        mean = float(entry.get("mean") or 0.0)
        var = float(entry.get("var") or 0.0)
        scaler.mean_ = np.array([mean])
        scaler.var_ = np.array([var])
        scaler.scale_ = np.array([np.sqrt(var) if var > 0 else 1.0])
        scaler.n_samples_seen_ = np.int64(entry.get("count", 0))
        mark_fitted(scaler, column if first else None)
        return [("standardize", scaler)]
