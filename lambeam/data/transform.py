"""Building the FITTED scikit-learn transform from the analyzers' statistics.

Each feature column becomes a Pipeline of native scikit-learn classes whose fitted state is set
from the full-pass statistics Beam computed, never by fitting on the data in one process: that is
what lets the statistics be computed on any runner, at any size, while training and serving apply
one ordinary scikit-learn object. The column pipelines are wrapped in FrozenEstimator so that
ColumnTransformer.fit (run on a one-row frame only to record column routing and output widths)
cannot refit them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from lambeam.data.operations import OOV, encoder_of, from_stored
from lambeam.data.operations.fitting import fitted
from lambeam.data.transformers import DeriveColumns

__all__ = ["OOV", "build_transform", "feature_layout"]


def build_transform(stats: dict[str, Any], transform_steps: list[dict[str, Any]]) -> Any:
    """The fitted transform: [DeriveColumns →] ColumnTransformer of per-column pipelines."""
    blocks = []
    for name, entry in stats["columns"].items():
        steps = _column_steps(name, entry)
        if steps:
            block: Any = Pipeline(steps)
        else:  # a numeric column not named in `columns` passes through as it is
            block = fitted(FunctionTransformer(feature_names_out="one-to-one"), name)
        blocks.append((name, FrozenEstimator(block), [name]))
    sparse = any(_sparse(entry) for entry in stats["columns"].values())
    columns = ColumnTransformer(
        blocks,
        remainder="drop",
        sparse_threshold=1.0 if sparse else 0.0,
        verbose_feature_names_out=False,
    )
    columns.fit(_one_row(stats))
    try:
        columns.get_feature_names_out()
    except ValueError:  # two blocks produced the same name: prefix each with its block
        columns.set_params(verbose_feature_names_out=True)
    if transform_steps:
        return Pipeline(
            [("derive", DeriveColumns(transform_steps).fit(None)), ("columns", columns)]
        )
    return columns


def feature_layout(transform: Any, stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's feature blocks, in the transform's output order."""
    columns = transform[-1] if isinstance(transform, Pipeline) else transform
    names = columns.get_feature_names_out()
    layout = []
    for block, _, _ in columns.transformers:
        piece = columns.output_indices_[block]
        entry = stats["columns"][block]
        if _sparse(entry):
            layout.append({"name": block, "kind": "sparse", "width": piece.stop - piece.start})
        else:
            layout.append(
                {"name": block, "kind": "dense", "columns": [str(n) for n in names[piece]]}
            )
    return layout


def _column_steps(name: str, entry: dict[str, Any]) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    for stored in entry["ops"]:
        steps.extend(from_stored(stored).sklearn_steps(name, entry, first=not steps))
    return steps


def _sparse(entry: dict[str, Any]) -> bool:
    encoder = encoder_of(entry)
    return encoder is not None and encoder.sparse


def _one_row(stats: dict[str, Any]) -> pd.DataFrame:
    """A one-row frame of the feature columns, for ColumnTransformer.fit's bookkeeping only."""
    return pd.DataFrame(
        {
            name: np.array([0.0]) if entry["type"] == "number" else np.array(["x"], dtype=object)
            for name, entry in stats["columns"].items()
        }
    )
