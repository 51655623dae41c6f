"""What a served model takes: which raw columns, and which of them may be null."""

from __future__ import annotations

from typing import Any

from lambeam.data import parse_pipeline_spec
from lambeam.data.inputs import served_columns

RAW = {"a": "number", "b": "number", "c": "number", "y": "string"}
STATS: dict[str, Any] = {"columns": {}}
IMPUTED = {"a": ["impute:median"], "b": ["impute:median"], "c": ["impute:mean"]}


def _nullable(**declared: Any) -> dict[str, bool]:
    spec = parse_pipeline_spec("p", {"source": "x.csv", "label": "y", **declared})
    return {column.name: column.nullable for column in served_columns(spec, RAW, STATS)}


def test_an_imputed_column_is_nullable() -> None:
    assert _nullable(columns=IMPUTED) == {"a": True, "b": True, "c": True}


def test_an_imputed_column_a_derive_carries_on_unfilled_is_required() -> None:
    """A derive step sees the raw value before the impute does: a null `a` made the derived
    ratio NaN, which the model refused with scikit-learn's stack trace (a 502) although the
    signature said `a` could be null. Where the derived column is imputed too, null stays fine."""
    derived = _nullable(columns=IMPUTED, steps=[{"derive": {"ratio": "a / b"}}])
    assert derived == {"a": False, "b": False, "c": True}
    filled = {**IMPUTED, "ratio": ["impute:mean"]}
    assert _nullable(columns=filled, steps=[{"derive": {"ratio": "a / b"}}]) == {
        "a": True,
        "b": True,
        "c": True,
    }
