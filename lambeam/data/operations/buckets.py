"""buckets: quantile buckets of the full data (edges from pass 2's sketch), as a KBinsDiscretizer."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.preprocessing import KBinsDiscretizer

from lambeam.data.operations.base import Fail, Operation
from lambeam.data.operations.fitting import mark_fitted, object_array
from lambeam.data.sketch import QuantileSketch

if TYPE_CHECKING:
    from lambeam.data.partials import ColumnPartial

__all__ = ["Buckets"]


@dataclasses.dataclass(frozen=True)
class Buckets(Operation):
    """{buckets=N}, N >= 2 (4 when given bare)."""

    name: ClassVar[str] = "buckets"
    encoder: ClassVar[bool] = True
    column_type: ClassVar[str | None] = "number"
    n: int = 4

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> Buckets:
        if params is None:
            params = 4
        if isinstance(params, bool) or not isinstance(params, int) or params < 2:
            raise fail("buckets must be {buckets=N} with N >= 2")
        return cls(params)

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        part.sketch = QuantileSketch().add(values)

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        if part is None:
            return
        sketch = part.sketch or QuantileSketch()
        edges = sketch.quantiles([i / self.n for i in range(self.n + 1)])
        entry["edges"] = sorted({float(e) for e in edges if not math.isnan(e)})

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        edges = np.asarray(entry.get("edges") or [0.0, 0.0], dtype=np.float64)
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
        discretizer = KBinsDiscretizer(
            n_bins=max(len(edges) - 1, 2), encode="ordinal", strategy="quantile"
        )
        # bin_edges_ are the quantiles of the pass-2 sketch (duplicates removed, as fit does).
        discretizer.bin_edges_ = object_array([edges])
        discretizer.n_bins_ = np.array([len(edges) - 1])
        mark_fitted(discretizer, column if first else None)
        return [("buckets", discretizer)]
