"""What a runner returns: one prediction per row, probabilities when asked, the classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Predictions", "per_row"]


@dataclass(frozen=True)
class Predictions:
    """Plain-Python outputs for a frame's rows, in row order.

    `probabilities[i][j]` is row i's probability of `classes[j]`; None when not asked or when the
    model has none (regressors, clusterers, outlier detectors). `classes` is None for models that
    are not classifiers.
    """

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    def rows(self, start: int, stop: int) -> Predictions:
        """The predictions of rows [start, stop), as the micro-batcher hands them back."""
        probabilities = None if self.probabilities is None else self.probabilities[start:stop]
        return Predictions(self.predictions[start:stop], probabilities, self.classes)


def per_row(values: Any, rows: int) -> list[Any]:
    """A model's output as plain Python: one value per row ([n] or [n, 1]), or one list per row
    for a model with several outputs ([n, k], a multi-output regressor)."""
    array = np.asarray(values)
    shaped = array.reshape(rows) if array.size == rows else array.reshape(rows, -1)
    return shaped.tolist()
