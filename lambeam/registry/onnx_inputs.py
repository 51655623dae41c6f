"""What an ONNX graph of a model version is fed: one [n, 1] array per raw input column.

Both the registry's check (at register time) and the ONNX runner (in an instance, per batch) build
their inputs here; it needs numpy and pandas only, so an instance that serves ONNX never imports
scikit-learn or skl2onnx for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lambeam.registry.signature import Signature

__all__ = ["onnx_feed"]


def onnx_feed(
    signature: Signature,
    frame: pd.DataFrame | Mapping[str, np.ndarray],
    input_type: str = "double",
) -> dict[str, np.ndarray]:
    """ONNX inputs for raw rows: one [n, 1] array per signature column.

    `frame` is a DataFrame, or its columns as arrays (a served request's checked columns: float
    arrays go in without a pass through pandas). Missing strings become "" (an unknown category
    to the graph); missing numbers stay NaN.
    """
    dtype = np.float64 if input_type == "double" else np.float32
    feed: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        name, kind = spec.name, spec.type
        column = frame[name]
        if kind == "number" and isinstance(column, np.ndarray) and column.dtype.kind == "f":
            values = column.astype(dtype, copy=False)
        elif kind == "number":
            values = pd.to_numeric(column, errors="raise").to_numpy(dtype=dtype, na_value=np.nan)
        else:
            values = np.array(
                ["" if _missing(value) else str(value) for value in column], dtype=object
            )
        feed[name] = values.reshape(-1, 1)
    return feed


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
