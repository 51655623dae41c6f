"""onehot: one feature per frequent value of a text column (the top_k seen at least min_frequency
times); unknown values are all zeros, or with oov=true go to an out-of-vocabulary column."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder

from lambeam.data.operations.base import Fail, Operation, table_params
from lambeam.data.partials import ranked, value_counts

if TYPE_CHECKING:
    from lambeam.data.partials import ColumnPartial

__all__ = ["OOV", "OneHot"]

# A token that never occurs in data: the onehot encoder's infrequent (out-of-vocabulary) category.
OOV = "\x00lambeam-oov"


@dataclasses.dataclass(frozen=True)
class OneHot(Operation):
    """{onehot={top_k, min_frequency, oov}}; the default encoder of an undeclared text column.

    Like scikit-learn's handle_unknown="ignore" and tf.Transform's default of no OOV buckets, an
    unknown (or missing) value is all zeros. oov=true adds an out-of-vocabulary column instead,
    which skl2onnx cannot convert, so its models are served by scikit-learn, not ONNX Runtime.
    """

    name: ClassVar[str] = "onehot"
    encoder: ClassVar[bool] = True
    column_type: ClassVar[str | None] = "string"
    top_k: int = 20
    min_frequency: int = 1
    oov: bool = False

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> OneHot:
        defaults = OneHot().params
        merged = table_params("onehot", params, defaults, ("top_k", "min_frequency"), fail)
        if not isinstance(merged["oov"], bool):
            raise fail("onehot.oov must be true or false")
        return cls(**merged)

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        part.counts = value_counts(values)

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        if part is None:
            return
        kept = [(v, c) for v, c in ranked(part.counts or {}) if c >= self.min_frequency]
        entry["vocabulary"] = [[v, c] for v, c in kept[: self.top_k]]

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        vocabulary = [v for v, _ in entry.get("vocabulary", [])]
        if self.oov:
            # Each vocabulary value twice and the OOV token once with min_frequency=2:
            # categories_ are exactly the vocabulary plus one infrequent category, where
            # unknown values go.
            values = [v for v in vocabulary for _ in range(2)] + [OOV]
            encoder = OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=2, sparse_output=False
            )
        else:
            values = vocabulary or [OOV]
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        sample = np.array(values, dtype=object).reshape(-1, 1)
        return [("onehot", encoder.fit(pd.DataFrame({column: sample[:, 0]}) if first else sample))]
