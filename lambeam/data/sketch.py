"""A mergeable quantile sketch with relative accuracy (DDSketch-style log buckets).

A value x > 0 falls in bucket i = ceil(log_gamma(x)), gamma = (1 + a) / (1 - a); negative values
use a mirrored store, zeros a counter. Counts are integers, so merging sketches in any order gives
the same sketch, and a quantile read from it is within relative error `a` of a true sample
quantile (clamped to the exact min and max, which are kept too).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["QuantileSketch"]

RELATIVE_ACCURACY = 0.001
_TINY = 1e-300


class QuantileSketch:
    """Counts of values in logarithmic buckets; `add` takes a numpy array (NaNs are skipped)."""

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        self.relative_accuracy = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def add(self, values: np.ndarray) -> QuantileSketch:
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            return self
        self.count += len(values)
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        magnitude = np.abs(values)
        small = magnitude < _TINY
        self.zeros += int(small.sum())
        for store, part in ((self.positive, values > 0), (self.negative, values < 0)):
            part &= ~small
            if part.any():
                keys = np.ceil(np.log(magnitude[part]) / self._log_gamma).astype(np.int64)
                uniq, counts = np.unique(keys, return_counts=True)
                for key, n in zip(uniq.tolist(), counts.tolist(), strict=True):
                    store[key] = store.get(key, 0) + n
        return self

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.zeros += other.zeros
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    def _value(self, key: int) -> float:
        return 2 * self.gamma**key / (self.gamma + 1)

    def quantile(self, q: float) -> float:
        """The q-quantile (0 <= q <= 1) of the values added; NaN if there were none."""
        return self.quantiles([q])[0]

    def quantiles(self, qs: list[float]) -> list[float]:
        if self.count == 0:
            return [math.nan for _ in qs]
        # Buckets in increasing value order: negatives by decreasing key, zeros, positives.
        order: list[tuple[float, int]] = [
            (-self._value(k), n) for k, n in sorted(self.negative.items(), reverse=True)
        ]
        if self.zeros:
            order.append((0.0, self.zeros))
        order.extend((self._value(k), n) for k, n in sorted(self.positive.items()))
        cumulative = np.cumsum([n for _, n in order])
        out = []
        for q in qs:
            if q <= 0:
                out.append(self.min)
                continue
            if q >= 1:
                out.append(self.max)
                continue
            rank = q * (self.count - 1)
            index = int(np.searchsorted(cumulative, math.floor(rank) + 1))
            out.append(min(max(order[index][0], self.min), self.max))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "relative_accuracy": self.relative_accuracy,
            "count": self.count,
            "zeros": self.zeros,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "positive": {str(k): v for k, v in sorted(self.positive.items())},
            "negative": {str(k): v for k, v in sorted(self.negative.items())},
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantileSketch) and self.to_dict() == other.to_dict()
