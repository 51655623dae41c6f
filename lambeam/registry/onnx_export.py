"""ONNX export of a fitted pipeline, checked against scikit-learn before it is trusted.

The whole pipeline (raw columns in, predictions out) is converted with skl2onnx, one graph input
per raw column of the signature. The graph is then run in ONNX Runtime on held-out raw rows and its
outputs compared with the pipeline's own. The outcome is one of:

    trusted        converted, and every row of the sample agrees: labels equal, the numbers
                   beside them (probabilities, scores, values) within a stated tolerance
    disagrees      converted, but some row does not agree (or the graph failed on the sample)
    unconvertible  skl2onnx (or ONNX Runtime, loading the graph) refused it; the reason is kept
    unchecked      converted, but there was no sample (or no reference output) to check it with

Numbers are fed as float64 when the graph runs that way (`onnx_convertible` rewrites what would
force float32, such as an imputer, and casts to float32 only where scikit-learn itself does, before
a tree); a few ONNX-ML operators exist only for float32 in ONNX Runtime (SVR's SVMRegressor),
so a float32 graph is the fallback. Which one was built is recorded in the check (`input_type`), with the tolerance and the
criterion; `onnx_feed` builds the inputs for either.
Nothing here raises: conversion must never make registering fail, so every failure is recorded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor

from lambeam.registry.onnx_convertible import converter_options, convertible, final_estimator
from lambeam.registry.onnx_inputs import onnx_feed
from lambeam.registry.signature import Signature

__all__ = [
    "ATOL",
    "CHECK_ROWS",
    "CRITERION",
    "RTOL",
    "TARGET_OPSET",
    "OnnxExport",
    "compare_outputs",
    "export_onnx",
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
# What serving needs, in the check record: the same answer on every row, and the numbers beside
# it (probabilities, scores, regression values) as close as float32 arithmetic allows.
CRITERION = (
    "labels equal on every row (but rows where scikit-learn's top probabilities tie);"
    " probabilities, scores and values within atol + rtol * |scikit-learn|"
)
# The check runs on at most this many held-out rows (a dataset keeps up to 1,000): enough to see
# a graph that routes some rows differently, bounded so that registering stays quick.
CHECK_ROWS = 1000
_PROVIDERS = ["CPUExecutionProvider"]


@dataclass
class OnnxExport:
    """The outcome of exporting one pipeline: status, the graph's bytes (if any), the check."""

    status: str
    model: bytes | None = None
    check: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # onnx_convert_s, onnx_check_s


def compare_outputs(
    expected: list[tuple[str, np.ndarray, bool]],
    actual: list[np.ndarray],
    *,
    atol: float = ATOL,
    rtol: float = RTOL,
    tied: np.ndarray | None = None,
) -> dict[str, Any]:
    """Row-wise agreement of ONNX outputs with scikit-learn's.

    `expected` holds (name, array, exact) per compared output, `actual` the ONNX outputs in the
    same order. Exact outputs (labels) must be equal, except on `tied` rows (where scikit-learn's
    top probabilities are equal, so its label is the first class by its own rule and any of the
    tied ones is as right); the others within atol + rtol * |expected|.
    Returns rows, agreement (fraction of rows where every output agrees), label_agreement (the
    same over the exact outputs alone), max_abs_diff (over the others), errors.
    """
    rows = len(expected[0][1]) if expected else 0
    agrees = np.ones(rows, dtype=bool)
    labels_agree = np.ones(rows, dtype=bool)
    max_abs_diff = 0.0
    errors: list[str] = []
    for (name, want, exact), got in zip(expected, actual, strict=True):
        want = np.asarray(want)
        got = np.asarray(got)
        if want.size != got.size or len(want) != len(got):
            errors.append(f"output {name!r} has shape {got.shape}, scikit-learn gives {want.shape}")
            agrees[:] = False
            if exact:
                labels_agree[:] = False
            continue
        want = want.reshape(rows, -1)
        got = got.reshape(rows, -1)
        if exact:
            if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":
                same = want.astype(str) == got.astype(str)
            else:
                same = want.astype(np.float64) == got.astype(np.float64)
            if tied is not None:
                same |= tied.reshape(rows, 1)
            agrees &= same.all(axis=1)
            labels_agree &= same.all(axis=1)
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
        "label_agreement": float(labels_agree.mean()) if rows else 0.0,
        "max_abs_diff": max_abs_diff,
        "errors": errors,
    }


def export_onnx(pipeline: Any, signature: Signature, raw_sample: pd.DataFrame | None) -> OnnxExport:
    """Convert `pipeline` to ONNX and check it on `raw_sample`; never raises."""
    try:
        return _export(pipeline, signature, raw_sample)
    except Exception as exc:  # registering must not fail because of ONNX
        log.exception("ONNX export failed unexpectedly")
        error = f"ONNX export failed: {_one_line(exc)}"
        return OnnxExport(
            "unconvertible", None, _check(0, None, None, dict(_TOLERANCE), error, None), {}
        )


def _export(pipeline: Any, signature: Signature, raw_sample: pd.DataFrame | None) -> OnnxExport:
    started = time.perf_counter()
    model, session, input_type, reason = _convert_and_load(pipeline, signature)
    seconds = {"onnx_convert_s": time.perf_counter() - started}
    if session is None or model is None:
        check = _check(0, None, None, dict(_TOLERANCE), reason, None)
        return OnnxExport("unconvertible", None, check, seconds)
    started = time.perf_counter()
    status, check = _check_graph(pipeline, signature, raw_sample, session, input_type)
    seconds["onnx_check_s"] = time.perf_counter() - started
    return OnnxExport(status, model, check, seconds)


def _convert_and_load(pipeline: Any, signature: Signature) -> tuple[bytes | None, Any, str, str]:
    """The graph, its ONNX Runtime session, its input type, and why not when there is none.

    float64 first; float32 only when ONNX Runtime cannot run the float64 graph (an operator it
    implements for float32 alone), so a pipeline converts once in the usual case.
    """
    has_numbers = any(spec.type == "number" for spec in signature.inputs)
    reason = ""
    input_type = "double"
    for input_type in ("double", "float") if has_numbers else ("double",):
        try:
            model = _convert(pipeline, signature, input_type)
        except Exception as exc:  # noqa: BLE001 - any converter failure means: not convertible
            reason = _one_line(exc)
            continue
        try:
            return model, _session(model), input_type, ""
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime cannot run what was written
            reason = f"ONNX Runtime cannot load the converted graph: {_one_line(exc)}"
    return None, None, input_type, reason


def _check_graph(
    pipeline: Any,
    signature: Signature,
    raw_sample: pd.DataFrame | None,
    session: Any,
    input_type: str,
) -> tuple[str, dict[str, Any]]:
    """The status and check record of a loaded graph, run on (at most CHECK_ROWS of) the sample."""
    tolerance = dict(_TOLERANCE)
    if raw_sample is None or len(raw_sample) == 0:
        return "unchecked", _check(0, None, None, tolerance, None, input_type)
    absent = [name for name in signature.names if name not in raw_sample.columns]
    if absent:
        error = f"the raw sample has no column {', '.join(map(repr, absent))}"
        return "unchecked", _check(0, None, None, tolerance, error, input_type)
    sample = raw_sample.head(CHECK_ROWS)
    try:
        expected = _reference_outputs(pipeline, sample)
    except Exception as exc:  # noqa: BLE001 - no reference, so nothing to check against
        error = f"scikit-learn failed on the raw sample: {_one_line(exc)}"
        return "unchecked", _check(0, None, None, tolerance, error, input_type)
    if not expected:
        error = "no reference output to compare for this estimator"
        return "unchecked", _check(0, None, None, tolerance, error, input_type)
    rows = len(sample)
    try:
        outputs = session.run(None, onnx_feed(signature, sample, input_type))
    except Exception as exc:  # noqa: BLE001 - a graph that fails on real rows is not trusted
        error = f"ONNX Runtime failed on the raw sample: {_one_line(exc)}"
        return "disagrees", _check(rows, 0.0, None, tolerance, error, input_type)
    if len(outputs) < len(expected):
        error = f"the graph has {len(outputs)} outputs, expected at least {len(expected)}"
        return "disagrees", _check(rows, 0.0, None, tolerance, error, input_type)
    tied = _tied_rows(expected)
    result = compare_outputs(expected, outputs[: len(expected)], tied=tied)
    mismatch = "; ".join(result["errors"]) or None
    check = _check(
        rows, result["agreement"], result["max_abs_diff"], tolerance, mismatch, input_type
    )
    check["label_agreement"] = result["label_agreement"]
    check["tied_rows"] = int(tied.sum()) if tied is not None else 0
    check["compared"] = [name for name, _, _ in expected]
    status = "trusted" if result["agreement"] == 1.0 and not mismatch else "disagrees"
    return status, check


def _convert(pipeline: Any, signature: Signature, input_type: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number_type = DoubleTensorType if input_type == "double" else FloatTensorType
    initial_types = [
        (
            spec.name,
            number_type([None, 1]) if spec.type == "number" else StringTensorType([None, 1]),
        )
        for spec in signature.inputs
    ]
    rewritten = convertible(pipeline, input_type)
    graph = convert_sklearn(
        rewritten,
        initial_types=initial_types,
        options=converter_options(rewritten) or None,
        target_opset=TARGET_OPSET,
    )
    return graph.SerializeToString()


def _session(model: bytes) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model, providers=_PROVIDERS)


def _reference_outputs(pipeline: Any, frame: pd.DataFrame) -> list[tuple[str, np.ndarray, bool]]:
    """scikit-learn's outputs, in the order skl2onnx writes the graph's outputs."""
    final = final_estimator(pipeline)
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


def _tied_rows(expected: list[tuple[str, np.ndarray, bool]]) -> np.ndarray | None:
    """Rows whose two highest scikit-learn probabilities are equal (a forest's even vote)."""
    proba = next((want for name, want, _ in expected if name == "probabilities"), None)
    if proba is None or proba.ndim != 2 or proba.shape[1] < 2:
        return None
    top = np.sort(proba, axis=1)[:, -2:]
    return np.asarray(np.isclose(top[:, 0], top[:, 1], rtol=0.0, atol=1e-12))


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values)


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
        "criterion": CRITERION,
        "error": error,
        "input_type": input_type,
        "opset": dict(TARGET_OPSET),
    }
