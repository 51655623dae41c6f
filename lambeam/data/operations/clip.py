"""clip: limit a number column to [low, high]."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.preprocessing import FunctionTransformer

from lambeam.data.operations.base import Fail, Operation
from lambeam.data.operations.fitting import fitted

if TYPE_CHECKING:
    from lambeam.data.analyzers import ColumnPlan

__all__ = ["Clip"]


@dataclasses.dataclass(frozen=True)
class Clip(Operation):
    """{clip=[low, high]}."""

    name: ClassVar[str] = "clip"
    column_type: ClassVar[str | None] = "number"
    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> Clip:
        if (
            not isinstance(params, list)
            or len(params) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in params)
            or params[0] > params[1]
        ):
            raise fail("clip must be {clip=[low, high]} with low <= high")
        return cls(float(params[0]), float(params[1]))

    def apply(self, values: np.ndarray, plan: ColumnPlan, place: str) -> np.ndarray:
        return np.clip(values, self.low, self.high)

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        clip = FunctionTransformer(
            np.clip,
            kw_args={"a_min": self.low, "a_max": self.high},
            validate=True,
            feature_names_out="one-to-one",
        )
        return [("clip", fitted(clip, column if first else None))]

    def lower_bound(self, bound: float | None) -> float | None:
        # A low end above what follows needs lets any value through.
        return None if bound is not None and self.low > bound else bound
