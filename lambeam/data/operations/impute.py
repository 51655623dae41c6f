"""impute: fill missing values with a statistic of the full data (mean, median, most frequent)
or a constant; the fitted transform carries the value as a SimpleImputer's constant."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from lambeam.data.operations.base import Fail, Operation
from lambeam.data.operations.fitting import frame
from lambeam.data.partials import json_number, ranked

if TYPE_CHECKING:
    from lambeam.data.analyzers import ColumnPlan
    from lambeam.data.partials import ColumnPartial

__all__ = ["Impute"]

_STRATEGIES = ("mean", "median", "most_frequent")


@dataclasses.dataclass(frozen=True)
class Impute(Operation):
    """ "impute:mean|median|most_frequent" or {impute={constant=…}}; always a column's first."""

    name: ClassVar[str] = "impute"
    text_argument: ClassVar[bool] = True
    strategy: str = "mean"
    fill_value: Any = None

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> Impute:
        if params is None:
            params = "mean"
        if isinstance(params, str):
            if params not in _STRATEGIES:
                raise fail(
                    f"impute strategy {params!r}; expected mean, median, most_frequent or {{constant=…}}"
                )
            return cls(params)
        if isinstance(params, Mapping) and set(params) == {"constant"}:
            fill = params["constant"]
            if isinstance(fill, bool) or not isinstance(fill, int | float | str):
                raise fail("impute constant must be a number or a string")
            return cls("constant", fill)
        raise fail('impute must be "impute:mean|median|most_frequent" or {impute={constant=…}}')

    @property
    def params(self) -> dict[str, Any]:
        if self.strategy == "constant":
            return {"strategy": "constant", "fill_value": self.fill_value}
        return {"strategy": self.strategy}

    def needs(self) -> str | None:
        if self.strategy in ("mean", "median"):
            return "number"
        if self.strategy == "constant":
            return "number" if isinstance(self.fill_value, int | float) else "string"
        return None

    def counts_in_profile(self) -> bool | None:
        return True if self.strategy == "most_frequent" else None

    def statistic(self, part: ColumnPartial) -> Any:
        """The value to fill with, from pass 1's partial of the column (None: nothing to use)."""
        if self.strategy == "constant":
            return float(self.fill_value) if part.type == "number" else self.fill_value
        if self.strategy == "mean":
            return json_number(part.moments.result()[1]) if part.moments else None
        if self.strategy == "median":
            return json_number(part.sketch.quantile(0.5)) if part.sketch else None
        order = ranked(part.counts or {})
        return order[0][0] if order else None

    def apply(self, values: np.ndarray, plan: ColumnPlan, place: str) -> np.ndarray:
        if plan.impute is None:
            return values
        values = np.where(pd.isna(values), plan.impute, values)
        return values.astype(np.float64) if plan.type == "number" else values

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        # Every strategy becomes a constant: the value Beam computed over the full data.
        number = entry["type"] == "number"
        fill = entry.get("impute")
        fill = (np.nan if fill is None else fill) if number else ("" if fill is None else fill)
        imputer = SimpleImputer(strategy="constant", fill_value=fill, keep_empty_features=True)
        return [("impute", imputer.fit(frame(column, [fill], number)))]
