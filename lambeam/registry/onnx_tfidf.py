"""TfidfVectorizer as ONNX with its weighting and norm in float64, as scikit-learn computes them.

skl2onnx converts a TfidfVectorizer as the counts of ONNX's TfIdfVectorizer (float32 only) and
then, in the counts' type, the idf weights and an ONNX-ML Normalizer (also float32 only): the
features a linear model sums were rounded to float32 before it, and a float64 classifier after
them did not load ("NormalizerNorm ... does not match expected type (tensor(double))"), so a text
model fell back to a float32 graph. The counts are whole numbers, exact in float32 below 2**24;
so here they are cast to float64 and everything after is float64: sublinear tf (1 + log(tf) where
tf > 0), times idf_, then each row over its l2 (or l1) norm, a zero row left as it is, as
scikit-learn's `normalize` does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from lambeam.registry.onnx_graph import GraphWriter, as_subclass

__all__ = ["float64_tfidf"]


class _Float64TfidfVectorizer(TfidfVectorizer):
    """A fitted TfidfVectorizer, converted by this module (same features)."""


def float64_tfidf(estimator: Any) -> Any:
    """`estimator` as the subclass this module converts when it is a float64 TfidfVectorizer
    with a norm this module writes, else `estimator` unchanged (state shared, not copied)."""
    if type(estimator) is not TfidfVectorizer or not hasattr(estimator, "vocabulary_"):
        return estimator
    if np.dtype(estimator.dtype) != np.float64 or estimator.norm not in (None, "l1", "l2"):
        return estimator
    _register()
    return as_subclass(estimator, _Float64TfidfVectorizer)


@functools.cache
def _register() -> None:
    """Teaches skl2onnx the subclass (once per process), with the vectorizer's options."""
    from skl2onnx import update_registered_converter

    update_registered_converter(
        _Float64TfidfVectorizer,
        "LambeamFloat64TfidfVectorizer",
        _shapes,
        _convert,
        options={
            "tokenexp": None,
            "separators": None,
            "nan": [True, False],
            "keep_empty_string": [True, False],
            "locale": None,
        },
    )


def _columns(model: Any) -> int:
    return int(max(model.vocabulary_.values())) + 1


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, _columns(operator.raw_operator)])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common.data_types import FloatTensorType

    model = operator.raw_operator

    graph = GraphWriter(scope, container)
    name, node, constant = graph.name, graph.node, graph.constant

    # skl2onnx's own CountVectorizer converter (tokens, n-grams, options) writes the counts.
    counter = scope.declare_local_operator(sklearn_operator_name_map[CountVectorizer], model)
    counter.inputs = operator.inputs
    counts = scope.declare_local_variable("counts", FloatTensorType([None, _columns(model)]))
    counter.outputs.append(counts)
    values = node("Cast", counts.full_name, name("counts_f64"), to=TensorProto.DOUBLE)
    zero = constant("zero", 0.0)
    if model.sublinear_tf:
        logged = node("Log", values, name("log_tf"))
        plus_one = node("Add", [logged, constant("one", 1.0)], name("sublinear_tf"))
        present = node("Greater", [values, zero], name("present"))
        values = node("Where", [present, plus_one, values], name("tf"))
    if model.use_idf:
        idf = np.asarray(model.idf_, dtype=np.float64)
        values = node("Mul", [values, constant("idf", idf)], name("tfidf"))
    if model.norm is not None:
        if model.norm == "l2":
            squares = node("Mul", [values, values], name("squares"))
        else:
            squares = node("Abs", values, name("magnitudes"))
        axis = constant("axis", [1], TensorProto.INT64)
        total = node("ReduceSum", [squares, axis], name("row_total"), keepdims=1)
        norm = node("Sqrt", total, name("row_norm")) if model.norm == "l2" else total
        empty = node("Equal", [norm, zero], name("empty_row"))
        divisor = node("Where", [empty, constant("one", 1.0), norm], name("divisor"))
        values = node("Div", [values, divisor], name("normalized"))
    node("Identity", values, operator.outputs[0].full_name)
