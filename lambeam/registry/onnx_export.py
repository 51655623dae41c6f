"""ONNX export of a fitted pipeline, checked against scikit-learn before it is trusted.

The whole pipeline (raw columns in, predictions out) is converted with skl2onnx, one graph input
per raw column of the signature. The graph is then run in ONNX Runtime on held-out raw rows and its
outputs compared with the pipeline's own. The outcome is one of:

    trusted        converted, and every row of the sample agrees
    disagrees      converted, but some row does not agree (or the graph failed on the sample)
    unconvertible  skl2onnx (or ONNX Runtime, loading the graph) refused it; the reason is kept
    unchecked      converted, but there was no sample (or no reference output) to check it with

Numbers are fed as float64 when the graph runs that way; several ONNX-ML operators (Imputer among
them) exist only for float32 in ONNX Runtime, so a float32 graph is the fallback. Which one was
built is recorded in the check (`input_type`), and `onnx_feed` builds the inputs for either.
Nothing here raises: conversion must never make registering fail, so every failure is recorded.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from lambeam.registry.signature import input_columns

__all__ = [
    "ATOL",
    "RTOL",
    "TARGET_OPSET",
    "OnnxExport",
    "compare_outputs",
    "export_onnx",
    "onnx_feed",
]

log = logging.getLogger(__name__)

# Opsets every ONNX Runtime >= 1.18 runs and skl2onnx 1.17+ writes.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# A value agrees when |onnx - sklearn| <= ATOL + RTOL * |sklearn| (numpy.isclose's rule): float32
# graphs carry ~1e-7 relative error per operation, far inside this, while a real divergence
# (another category mapping, a wrong imputed value) is far outside it.
ATOL = 1e-4
RTOL = 1e-4
_TOLERANCE = {"atol": ATOL, "rtol": RTOL}
_PROVIDERS = ["CPUExecutionProvider"]


@dataclass
class OnnxExport:
    """The outcome of exporting one pipeline: status, the graph's bytes (if any), the check."""

    status: str
    model: bytes | None = None
    check: dict[str, Any] = field(default_factory=dict)


def onnx_feed(
    signature: dict[str, Any],
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
    for name, kind in input_columns(signature):
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


def compare_outputs(
    expected: list[tuple[str, np.ndarray, bool]],
    actual: list[np.ndarray],
    *,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> dict[str, Any]:
    """Row-wise agreement of ONNX outputs with scikit-learn's.

    `expected` holds (name, array, exact) per compared output, `actual` the ONNX outputs in the
    same order. Exact outputs (labels) must be equal; the others within atol + rtol * |expected|.
    Returns rows, agreement (fraction of rows where every output agrees), max_abs_diff, errors.
    """
    rows = len(expected[0][1]) if expected else 0
    agrees = np.ones(rows, dtype=bool)
    max_abs_diff = 0.0
    errors: list[str] = []
    for (name, want, exact), got in zip(expected, actual, strict=True):
        want = np.asarray(want)
        got = np.asarray(got)
        if want.size != got.size or len(want) != len(got):
            errors.append(f"output {name!r} has shape {got.shape}, scikit-learn gives {want.shape}")
            agrees[:] = False
            continue
        want = want.reshape(rows, -1)
        got = got.reshape(rows, -1)
        if exact:
            if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":
                same = want.astype(str) == got.astype(str)
            else:
                same = want.astype(np.float64) == got.astype(np.float64)
            agrees &= same.all(axis=1)
        else:
            want_f = want.astype(np.float64)
            got_f = got.astype(np.float64)
            close = np.isclose(got_f, want_f, atol=atol, rtol=rtol, equal_nan=True)
            agrees &= close.all(axis=1)
            diff = np.abs(got_f - want_f)
            diff = diff[~np.isnan(diff)]
            if diff.size:
                max_abs_diff = max(max_abs_diff, float(diff.max()))
    return {
        "rows": rows,
        "agreement": float(agrees.mean()) if rows else 0.0,
        "max_abs_diff": max_abs_diff,
        "errors": errors,
    }


def export_onnx(
    pipeline: Any, signature: dict[str, Any], raw_sample: pd.DataFrame | None
) -> OnnxExport:
    """Convert `pipeline` to ONNX and check it on `raw_sample`; never raises."""
    try:
        return _export(pipeline, signature, raw_sample)
    except Exception as exc:  # registering must not fail because of ONNX
        log.exception("ONNX export failed unexpectedly")
        error = f"ONNX export failed: {_one_line(exc)}"
        return OnnxExport(
            "unconvertible", None, _check(0, None, None, dict(_TOLERANCE), error, None)
        )


def _export(
    pipeline: Any, signature: dict[str, Any], raw_sample: pd.DataFrame | None
) -> OnnxExport:
    tolerance = dict(_TOLERANCE)
    has_numbers = any(kind == "number" for _, kind in input_columns(signature))
    session = None
    model: bytes | None = None
    reason = ""
    input_type = "double"
    for input_type in ("double", "float") if has_numbers else ("double",):
        try:
            model = _convert(pipeline, signature, input_type)
        except Exception as exc:  # noqa: BLE001 - any converter failure means: not convertible
            reason = _one_line(exc)
            model = None
            continue
        try:
            session = _session(model)
            break
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime cannot run what was written
            reason = f"ONNX Runtime cannot load the converted graph: {_one_line(exc)}"
            model = None
    if session is None or model is None:
        return OnnxExport("unconvertible", None, _check(0, None, None, tolerance, reason, None))

    if raw_sample is None or len(raw_sample) == 0:
        return OnnxExport("unchecked", model, _check(0, None, None, tolerance, None, input_type))
    absent = [name for name, _ in input_columns(signature) if name not in raw_sample.columns]
    if absent:
        error = f"the raw sample has no column {', '.join(map(repr, absent))}"
        return OnnxExport("unchecked", model, _check(0, None, None, tolerance, error, input_type))
    try:
        expected = _reference_outputs(pipeline, raw_sample)
    except Exception as exc:  # noqa: BLE001 - no reference, so nothing to check against
        error = f"scikit-learn failed on the raw sample: {_one_line(exc)}"
        return OnnxExport("unchecked", model, _check(0, None, None, tolerance, error, input_type))
    if not expected:
        error = "no reference output to compare for this estimator"
        return OnnxExport("unchecked", model, _check(0, None, None, tolerance, error, input_type))
    rows = len(raw_sample)
    try:
        outputs = session.run(None, onnx_feed(signature, raw_sample, input_type))
    except Exception as exc:  # noqa: BLE001 - a graph that fails on real rows is not trusted
        error = f"ONNX Runtime failed on the raw sample: {_one_line(exc)}"
        return OnnxExport("disagrees", model, _check(rows, 0.0, None, tolerance, error, input_type))
    if len(outputs) < len(expected):
        error = f"the graph has {len(outputs)} outputs, expected at least {len(expected)}"
        return OnnxExport("disagrees", model, _check(rows, 0.0, None, tolerance, error, input_type))
    result = compare_outputs(expected, outputs[: len(expected)])
    mismatch = "; ".join(result["errors"]) or None
    check = _check(
        rows, result["agreement"], result["max_abs_diff"], tolerance, mismatch, input_type
    )
    check["compared"] = [name for name, _, _ in expected]
    status = "trusted" if result["agreement"] == 1.0 and not mismatch else "disagrees"
    return OnnxExport(status, model, check)


def _convert(pipeline: Any, signature: dict[str, Any], input_type: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number_type = DoubleTensorType if input_type == "double" else FloatTensorType
    initial_types = [
        (name, number_type([None, 1]) if kind == "number" else StringTensorType([None, 1]))
        for name, kind in input_columns(signature)
    ]
    convertible = _merged_scalers(_unfrozen(copy.deepcopy(pipeline)))
    final = _final_estimator(convertible)
    # Plain arrays, not a list of {class: probability} maps, so that outputs compare directly.
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    graph = convert_sklearn(
        convertible, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
    )
    return graph.SerializeToString()


def _merged_scalers(estimator: Any) -> Any:
    """`estimator` with each run of adjacent one-column StandardScaler blocks of a
    ColumnTransformer made one StandardScaler over those columns, in place.

    A dataset's transform standardizes column by column; converted as it is, each column is a
    Sub and a Div node of its own, and ONNX Runtime's cost per node dominates a small batch (a
    20-column logistic regression ran 52 nodes in about 80 µs). Merged, the columns are joined
    once and scaled by one node. The outputs are the same numbers in the same order, and the
    trust check compares them with the original pipeline's anyway.
    """
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            _merged_scalers(step)
        return estimator
    if not isinstance(estimator, ColumnTransformer) or not hasattr(estimator, "transformers_"):
        return estimator
    if estimator.transformer_weights:  # weighed by block name: merged blocks would lose theirs
        return estimator
    merged: list[tuple[str, Any, Any]] = []
    run: list[tuple[str, StandardScaler, str]] = []

    def flush() -> None:
        if len(run) == 1:
            name, scaler, column = run[0]
            merged.append((name, scaler, [column]))
        elif run:
            name = f"standardize[{run[0][0]}..{run[-1][0]}]"
            merged.append((name, _joined([s for _, s, _ in run]), [c for _, _, c in run]))
        run.clear()

    for name, block, columns in estimator.transformers_:
        scaler = _lone_scaler(block)
        if scaler is None or not isinstance(columns, list) or len(columns) != 1:
            flush()
            merged.append((name, block, columns))
            continue
        if run and (scaler.with_mean, scaler.with_std) != (run[0][1].with_mean, run[0][1].with_std):
            flush()
        run.append((name, scaler, columns[0]))
    flush()
    estimator.transformers_ = merged
    return estimator


def _lone_scaler(block: Any) -> StandardScaler | None:
    """The StandardScaler a block is (alone, or as a one-step pipeline) on one column."""
    if isinstance(block, Pipeline) and len(block.steps) == 1:
        block = block.steps[0][1]
    if isinstance(block, StandardScaler) and getattr(block, "n_features_in_", 1) == 1:
        return block
    return None


def _joined(scalers: list[StandardScaler]) -> StandardScaler:
    """One fitted StandardScaler doing what `scalers` do, each on its own column."""
    first = scalers[0]
    joined = StandardScaler(with_mean=first.with_mean, with_std=first.with_std)
    for attribute in ("mean_", "var_", "scale_"):
        values = [getattr(s, attribute) for s in scalers]
        setattr(joined, attribute, None if values[0] is None else np.concatenate(values))
    joined.n_features_in_ = len(scalers)
    joined.n_samples_seen_ = first.n_samples_seen_
    return joined


def _unfrozen(estimator: Any) -> Any:
    """`estimator` with every FrozenEstimator replaced by the fitted estimator it wraps.

    A dataset's transform freezes its fitted column pipelines (so ColumnTransformer.fit cannot
    refit them); skl2onnx has no converter for the wrapper, though it computes exactly what the
    wrapped estimator does. Works in place, so callers pass a copy; the check on the raw sample
    still compares against the original pipeline.
    """
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:  # scikit-learn < 1.6 has no FrozenEstimator
        return estimator
    if isinstance(estimator, FrozenEstimator):
        return _unfrozen(estimator.estimator)
    if isinstance(estimator, Pipeline):
        estimator.steps = [(name, _unfrozen(step)) for name, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer):
        for attribute in ("transformers", "transformers_"):
            if hasattr(estimator, attribute):
                blocks = [
                    (name, block if isinstance(block, str) else _unfrozen(block), columns)
                    for name, block, columns in getattr(estimator, attribute)
                ]
                setattr(estimator, attribute, blocks)
    elif isinstance(estimator, FeatureUnion):
        estimator.transformer_list = [
            (name, part if isinstance(part, str) else _unfrozen(part))
            for name, part in estimator.transformer_list
        ]
    return estimator


def _session(model: bytes) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model, providers=_PROVIDERS)


def _reference_outputs(pipeline: Any, frame: pd.DataFrame) -> list[tuple[str, np.ndarray, bool]]:
    """scikit-learn's outputs, in the order skl2onnx writes the graph's outputs."""
    final = _final_estimator(pipeline)
    if is_classifier(final):
        outputs = [("label", np.asarray(pipeline.predict(frame)), True)]
        if hasattr(final, "predict_proba"):
            outputs.append(("probabilities", np.asarray(pipeline.predict_proba(frame)), False))
        return outputs
    if is_regressor(final):
        return [("variable", np.asarray(pipeline.predict(frame)), False)]
    if hasattr(final, "predict") and hasattr(final, "transform"):  # clusterers such as KMeans
        return [
            ("label", np.asarray(pipeline.predict(frame)), True),
            ("scores", np.asarray(pipeline.transform(frame)), False),
        ]
    if hasattr(final, "predict"):  # outlier detectors: the label is what is served
        return [("label", np.asarray(pipeline.predict(frame)), True)]
    if hasattr(final, "transform"):
        return [("variable", _dense(pipeline.transform(frame)), False)]
    return []


def _final_estimator(pipeline: Any) -> Any:
    steps = getattr(pipeline, "steps", None)
    return steps[-1][1] if steps else pipeline


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _check(
    rows: int,
    agreement: float | None,
    max_abs_diff: float | None,
    tolerance: dict[str, float],
    error: str | None,
    input_type: str | None,
) -> dict[str, Any]:
    return {
        "rows": rows,
        "agreement": agreement,
        "max_abs_diff": max_abs_diff,
        "tolerance": tolerance,
        "error": error,
        "input_type": input_type,
        "opset": dict(TARGET_OPSET),
    }
