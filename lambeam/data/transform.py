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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
)

from lambeam.data.transformers import DeriveColumns

__all__ = ["OOV", "build_transform", "feature_layout"]

# A token that never occurs in data: the onehot encoder's infrequent (out-of-vocabulary) category.
OOV = "\x00lambeam-oov"


def build_transform(stats: dict[str, Any], transform_steps: list[dict[str, Any]]) -> Any:
    """The fitted transform: [DeriveColumns →] ColumnTransformer of per-column pipelines."""
    blocks = []
    for name, entry in stats["columns"].items():
        steps = _column_steps(name, entry)
        if steps:
            block: Any = Pipeline(steps)
        else:  # a numeric column not named in `columns` passes through as it is
            block = _fitted(FunctionTransformer(feature_names_out="one-to-one"), name)
        blocks.append((name, FrozenEstimator(block), [name]))
    sparse = any(
        e["ops"] and next(iter(e["ops"][-1])) == "tfidf" for e in stats["columns"].values()
    )
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
        if entry["ops"] and next(iter(entry["ops"][-1])) == "tfidf":
            layout.append({"name": block, "kind": "sparse", "width": piece.stop - piece.start})
        else:
            layout.append(
                {"name": block, "kind": "dense", "columns": [str(n) for n in names[piece]]}
            )
    return layout


def _column_steps(name: str, entry: dict[str, Any]) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    number = entry["type"] == "number"
    for op in entry["ops"]:
        ((kind, params),) = op.items()
        if kind == "impute":
            # Every strategy becomes a constant: the value Beam computed over the full data.
            fill = entry.get("impute")
            fill = (np.nan if fill is None else fill) if number else ("" if fill is None else fill)
            imputer = SimpleImputer(strategy="constant", fill_value=fill, keep_empty_features=True)
            steps.append(("impute", imputer.fit(_frame(name, [fill], number))))
        elif kind == "log":
            log = FunctionTransformer(np.log1p, validate=True, feature_names_out="one-to-one")
            steps.append(("log", _fitted(log, name if not steps else None)))
        elif kind == "clip":
            clip = FunctionTransformer(
                np.clip,
                kw_args={"a_min": params["low"], "a_max": params["high"]},
                validate=True,
                feature_names_out="one-to-one",
            )
            steps.append(("clip", _fitted(clip, name if not steps else None)))
        elif kind == "standardize":
            scaler = StandardScaler()
            # mean_/var_/scale_ are the full-data moments from pass 2 (population variance, as
            # StandardScaler.fit computes); a zero variance scales by 1, as sklearn does.
            mean = float(entry.get("mean") or 0.0)
            var = float(entry.get("var") or 0.0)
            scaler.mean_ = np.array([mean])
            scaler.var_ = np.array([var])
            scaler.scale_ = np.array([np.sqrt(var) if var > 0 else 1.0])
            scaler.n_samples_seen_ = np.int64(entry.get("count", 0))
            _mark_fitted(scaler, name if not steps else None)
            steps.append(("standardize", scaler))
        elif kind == "minmax":
            low = entry.get("min") if entry.get("min") is not None else 0.0
            high = entry.get("max") if entry.get("max") is not None else low
            # Fitting on the two extremes gives exactly the data_min_/data_max_ of the full pass.
            extremes = _frame(name, [low, high], True)
            steps.append(
                ("minmax", MinMaxScaler().fit(extremes if not steps else extremes.to_numpy()))
            )
        elif kind == "buckets":
            edges = np.asarray(entry.get("edges") or [0.0, 0.0], dtype=np.float64)
            if len(edges) == 1:
                edges = np.array([edges[0], edges[0]])
            discretizer = KBinsDiscretizer(
                n_bins=max(len(edges) - 1, 2), encode="ordinal", strategy="quantile"
            )
            # bin_edges_ are the quantiles of the pass-2 sketch (duplicates removed, as fit does).
            discretizer.bin_edges_ = _object_array([edges])
            discretizer.n_bins_ = np.array([len(edges) - 1])
            _mark_fitted(discretizer, name if not steps else None)
            steps.append(("buckets", discretizer))
        elif kind == "onehot":
            steps.append(("onehot", _onehot(name, entry, params, bool(steps))))
        elif kind == "tfidf":
            if not steps:
                imputer = SimpleImputer(
                    strategy="constant", fill_value="", keep_empty_features=True
                )
                steps.append(("impute", imputer.fit(_frame(name, [""], False))))
            # TfidfVectorizer takes one document per row: a 1-D array, not the imputer's column.
            steps.append(("flatten", FunctionTransformer(np.ravel, feature_names_out="one-to-one")))
            vectorizer = TfidfVectorizer(
                vocabulary={t: i for i, t in enumerate(entry["terms"])},
                ngram_range=tuple(params["ngram"]),
            )
            # idf_ holds smooth idf from the full-pass document frequencies (pass 2).
            vectorizer.idf_ = np.asarray(entry["idf"], dtype=np.float64)
            steps.append(("tfidf", vectorizer))
    return steps


def _onehot(
    name: str, entry: dict[str, Any], params: dict[str, Any], after_step: bool
) -> OneHotEncoder:
    vocabulary = [v for v, _ in entry.get("vocabulary", [])]
    if params["oov"]:
        # Each vocabulary value twice and the OOV token once with min_frequency=2: categories_ are
        # exactly the vocabulary plus one infrequent category, where unknown values go.
        values = [v for v in vocabulary for _ in range(2)] + [OOV]
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=2, sparse_output=False
        )
    else:
        values = vocabulary or [OOV]
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    sample = np.array(values, dtype=object).reshape(-1, 1)
    return encoder.fit(sample if after_step else pd.DataFrame({name: sample[:, 0]}))


def _fitted(transformer: FunctionTransformer, name: str | None) -> FunctionTransformer:
    """Fit a stateless numeric transformer on one value (named when it is a block's first step)."""
    sample = _frame(name or "x", [1.0], True)
    return transformer.fit(sample if name is not None else sample.to_numpy())


def _mark_fitted(estimator: Any, name: str | None) -> None:
    """Set the input bookkeeping `fit` would have set (one column, named when it meets a frame)."""
    estimator.n_features_in_ = 1
    if name is not None:
        estimator.feature_names_in_ = np.array([name], dtype=object)


def _object_array(items: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _frame(name: str, values: list[Any], number: bool) -> pd.DataFrame:
    return pd.DataFrame({name: np.array(values, dtype=np.float64 if number else object)})


def _one_row(stats: dict[str, Any]) -> pd.DataFrame:
    """A one-row frame of the feature columns, for ColumnTransformer.fit's bookkeeping only."""
    return pd.DataFrame(
        {
            name: np.array([0.0]) if entry["type"] == "number" else np.array(["x"], dtype=object)
            for name, entry in stats["columns"].items()
        }
    )
