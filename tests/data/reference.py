"""Checks shared by the data tests: a version's transform reproduces its stored features."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lambeam.data import DatasetVersion
from lambeam.data.frames import canonical_frame


def read_raw(path: Any, schema: dict[str, str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """A CSV read with pandas and coerced to canonical types the way the pipeline does."""
    return canonical_frame(pd.read_csv(path, **kwargs), schema or {})


def dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64)


def assert_transform_reproduces(version: DatasetVersion, raw: pd.DataFrame, key: str) -> None:
    """Applying the stored transform to `raw` rows gives the stored features (matched by key)."""
    stored = version.frame()
    assert len(stored) == len(raw)
    rows = raw.set_index(key, drop=False).loc[stored[key].to_numpy()].reset_index(drop=True)
    expected = dense(version.matrix(stored))
    actual = dense(version.transform().transform(rows))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-9)
