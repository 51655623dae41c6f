"""Mergeable per-column statistics: what a column's batches have shown so far, merged in any order.

Counts are integers and float sums are kept per batch and combined in sorted order (Moments), so
two runs on the same inputs give bit-identical statistics however Beam groups the batches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lambeam.data.sketch import QuantileSketch
from lambeam.errors import ColumnError

__all__ = ["MIXED_TYPES", "ColumnPartial", "Moments", "json_number", "ranked", "value_counts"]

MIXED_TYPES = (
    "column {name!r} holds numbers in some rows or files and text in others (a file where it "
    'is empty reads as numbers); declare its type, e.g. source.schema = {{ {name} = "string" }}'
)


@dataclass
class Moments:
    """Per-batch (n, sum, sum of squared deviations from the batch mean), combined exactly once."""

    parts: list[tuple[int, float, float]] = field(default_factory=list)

    def add(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        if len(values):
            mean = float(values.mean())
            self.parts.append(
                (len(values), float(values.sum()), float(((values - mean) ** 2).sum()))
            )

    def merge(self, other: Moments) -> None:
        self.parts.extend(other.parts)

    def result(self) -> tuple[int, float, float]:
        """(count, mean, population variance), independent of the order of the parts."""
        parts = sorted(self.parts)
        n = sum(p[0] for p in parts)
        if n == 0:
            return 0, math.nan, math.nan
        mean = math.fsum(p[1] for p in parts) / n
        m2 = math.fsum(p[2] + p[0] * (p[1] / p[0] - mean) ** 2 for p in parts)
        return n, mean, m2 / n


@dataclass
class ColumnPartial:
    """What one column's batches have shown so far."""

    type: str
    count: int = 0
    missing: int = 0
    moments: Moments | None = None
    sketch: QuantileSketch | None = None
    counts: dict[Any, int] | None = None
    minimum: float = math.inf
    maximum: float = -math.inf
    terms: dict[str, list[int]] | None = None
    documents: int = 0

    def merge(self, other: ColumnPartial, name: str) -> None:
        if other.type != self.type:
            raise ColumnError(MIXED_TYPES.format(name=name))
        self.count += other.count
        self.missing += other.missing
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.documents += other.documents
        if other.moments is not None:
            self.moments = self.moments or Moments()
            self.moments.merge(other.moments)
        if other.sketch is not None:
            self.sketch = self.sketch or QuantileSketch()
            self.sketch.merge(other.sketch)
        if other.counts is not None:
            self.counts = self.counts if self.counts is not None else {}
            for key, n in other.counts.items():
                self.counts[key] = self.counts.get(key, 0) + n
        if other.terms is not None:
            self.terms = self.terms if self.terms is not None else {}
            for term, (tf, df) in other.terms.items():
                mine = self.terms.setdefault(term, [0, 0])
                mine[0] += tf
                mine[1] += df


def value_counts(values: np.ndarray) -> dict[Any, int]:
    """How often each non-missing value occurs."""
    series = pd.Series(values, copy=False).dropna()
    counts = series.value_counts(sort=False)
    return dict(zip(counts.index.tolist(), counts.tolist(), strict=True))


def ranked(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """Values by decreasing count, ties broken by value (as SimpleImputer's most_frequent does)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def json_number(value: float) -> float | None:
    """JSON-safe float: NaN and infinities become None."""
    return None if value is None or not math.isfinite(value) else float(value)
