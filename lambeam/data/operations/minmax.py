"""minmax: scale to [0, 1] by the full data's minimum and maximum, as a fitted MinMaxScaler."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.preprocessing import MinMaxScaler

from lambeam.data.operations.base import Operation
from lambeam.data.operations.fitting import frame
from lambeam.data.partials import json_number

if TYPE_CHECKING:
    from lambeam.data.partials import ColumnPartial

__all__ = ["MinMax"]


@dataclasses.dataclass(frozen=True)
class MinMax(Operation):
    """ "minmax"."""

    name: ClassVar[str] = "minmax"
    encoder: ClassVar[bool] = True
    column_type: ClassVar[str | None] = "number"

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        if not np.isnan(values).all():
            part.minimum, part.maximum = float(np.nanmin(values)), float(np.nanmax(values))

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        if part is not None:
            entry.update(min=json_number(part.minimum), max=json_number(part.maximum))

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        low = entry.get("min") if entry.get("min") is not None else 0.0
        high = entry.get("max") if entry.get("max") is not None else low
        # Fitting on the two extremes gives exactly the data_min_/data_max_ of the full pass.
        extremes = frame(column, [low, high], True)
        return [("minmax", MinMaxScaler().fit(extremes if first else extremes.to_numpy()))]
