"""Linear classifiers as ONNX in float64, with scikit-learn's own link and label rule.

skl2onnx's converter for LogisticRegression, LinearSVC and RidgeClassifier writes an ONNX-ML
LinearClassifier (float32 only in ONNX Runtime) or, given float64 inputs, MatMul + Add but then
refuses a classifier without probabilities ("post_transform 'NONE' is not supported with
double": LinearSVC, RidgeClassifier) and declares its probabilities in whatever type its input had
when the pipeline was parsed (a float32 one-hot block first in the dataset's transform makes it
float32, and the float64 graph does not load). Either way the graph fell back to float32, whose
rounding gives another label than scikit-learn's to rows within ~1e-7 of a decision boundary.

So `convertible` swaps the fitted estimator for a subclass converted here, in float64 whatever
the input's type: scores = X @ coef_.T + intercept_ (MatMul + Add), then what scikit-learn's
`predict_proba` does (logistic for two classes, softmax for a multinomial LogisticRegression,
logistic or modified Huber normalised one-vs-rest for SGDClassifier) and its `predict` (score > 0
for two classes; the first maximum of the scores otherwise, as numpy's argmax and ONNX's ArgMax
both pick). A classifier without `predict_proba` outputs its decision scores as "probabilities"
(one column for two classes), as skl2onnx's converter did.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    Perceptron,
    RidgeClassifier,
    RidgeClassifierCV,
    SGDClassifier,
)
from sklearn.svm import LinearSVC

from lambeam.registry.onnx_graph import GraphWriter, as_subclass
from lambeam.registry.onnx_labels import add_labels, integer_labels

__all__ = ["float64_linear"]


class _Float64LogisticRegression(LogisticRegression):
    """A fitted LogisticRegression, converted by this module (same predictions)."""


class _Float64LogisticRegressionCV(LogisticRegressionCV):
    """A fitted LogisticRegressionCV, converted by this module (same predictions)."""


class _Float64LinearSVC(LinearSVC):
    """A fitted LinearSVC, converted by this module (same predictions)."""


class _Float64RidgeClassifier(RidgeClassifier):
    """A fitted RidgeClassifier, converted by this module (same predictions)."""


class _Float64RidgeClassifierCV(RidgeClassifierCV):
    """A fitted RidgeClassifierCV, converted by this module (same predictions)."""


class _Float64SGDClassifier(SGDClassifier):
    """A fitted SGDClassifier, converted by this module (same predictions)."""


class _Float64Perceptron(Perceptron):
    """A fitted Perceptron, converted by this module (same predictions)."""


_KINDS: dict[type, type] = {
    LogisticRegression: _Float64LogisticRegression,
    LogisticRegressionCV: _Float64LogisticRegressionCV,
    LinearSVC: _Float64LinearSVC,
    RidgeClassifier: _Float64RidgeClassifier,
    RidgeClassifierCV: _Float64RidgeClassifierCV,
    SGDClassifier: _Float64SGDClassifier,
    Perceptron: _Float64Perceptron,
}


def float64_linear(estimator: Any) -> Any:
    """`estimator` as the subclass this module converts when it is a linear classifier whose
    predictions it writes exactly, else `estimator` unchanged. The fitted state is shared, not
    copied (nothing changes it)."""
    kind = _KINDS.get(type(estimator))
    if kind is None or not _expressible(estimator):
        return estimator
    _register()
    return as_subclass(estimator, kind)


def _expressible(model: Any) -> bool:
    """Single-label, with coefficients, and a link this module writes (a LogisticRegression of
    a scikit-learn that still had multi_class="ovr" is left to skl2onnx)."""
    if not hasattr(model, "coef_") or not hasattr(model, "classes_"):
        return False
    if getattr(getattr(model, "_label_binarizer", None), "y_type_", "") == "multilabel-indicator":
        return False
    if isinstance(model, LogisticRegression) and getattr(model, "multi_class", None) == "ovr":
        return False
    return np.ndim(model.classes_) == 1 and np.ndim(model.coef_) in (1, 2)


def _link(model: Any) -> str:
    """What turns the decision scores into scikit-learn's predict_proba, or "none"."""
    if isinstance(model, LogisticRegression):
        return "logistic" if len(model.classes_) == 2 else "softmax"
    if isinstance(model, SGDClassifier) and model.loss == "log_loss":
        return "logistic"
    if isinstance(model, SGDClassifier) and model.loss == "modified_huber":
        return "modified_huber"
    return "none"


@functools.cache
def _register() -> None:
    """Teaches skl2onnx every subclass (once per process)."""
    from skl2onnx import update_registered_converter

    for kind in _KINDS.values():
        update_registered_converter(
            kind,
            f"Lambeam{kind.__name__.lstrip('_')}",
            _shapes,
            _convert,
            # skl2onnx's classifier parser asks for nocl and output_class_labels: only their
            # defaults are accepted (this converter writes neither form).
            options={
                "zipmap": [True, False, "columns"],
                "nocl": [False],
                "output_class_labels": [False],
            },
        )


def _shapes(operator: Any) -> None:
    """Label and probabilities, typed by the model, not by the input's parse-time type."""
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    model = operator.raw_operator
    rows = operator.inputs[0].get_first_dimension()
    classes = np.asarray(model.classes_)
    label = Int64TensorType if integer_labels(classes) else StringTensorType
    operator.outputs[0].type = label([rows])
    columns = 1 if len(classes) == 2 and _link(model) == "none" else len(classes)
    operator.outputs[1].type = DoubleTensorType([rows, columns])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    model = operator.raw_operator
    two = len(model.classes_) == 2
    link = _link(model)

    graph = GraphWriter(scope, container)
    name, node, constant = graph.name, graph.node, graph.constant

    features = operator.inputs[0].full_name
    if operator.inputs[0].type.to_onnx_type().tensor_type.elem_type != TensorProto.DOUBLE:
        features = node("Cast", features, name("features_f64"), to=TensorProto.DOUBLE)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64)).T  # a binary Ridge's is 1-D
    intercept = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64), coef.shape[1:])
    product = node("MatMul", [features, constant("coef", coef)], name("product"))
    scores = node("Add", [product, constant("intercept", intercept)], name("scores"))

    label, probabilities = operator.outputs[0].full_name, operator.outputs[1].full_name
    index = name("class_index")
    if two:
        positive = node("Greater", [scores, constant("zero", 0.0)], name("positive"))
        as_int = node("Cast", positive, name("positive_int"), to=TensorProto.INT64)
        flat = constant("flat", [-1], TensorProto.INT64)
        node("Reshape", [as_int, flat], index)
    else:
        node("ArgMax", scores, index, axis=1, keepdims=0)
    add_labels(scope, container, np.asarray(model.classes_), index, label)

    if link == "none":
        node("Identity", scores, probabilities)
    elif link == "softmax":
        node("Softmax", scores, probabilities, axis=1)
    else:
        one = constant("one", 1.0)
        if link == "logistic":
            positive_p = node("Sigmoid", scores, name("sigmoid"))
        else:  # modified Huber: (clip(score, -1, 1) + 1) / 2
            low, high = constant("minus_one", -1.0), one
            clipped = node("Clip", [scores, low, high], name("clipped"))
            shifted = node("Add", [clipped, one], name("shifted"))
            positive_p = node("Div", [shifted, constant("two", 2.0)], name("huber"))
        if two:
            negative = node("Sub", [one, positive_p], name("negative"))
            node("Concat", [negative, positive_p], probabilities, axis=1)
        else:
            _one_vs_rest(node, name, constant, positive_p, probabilities, len(model.classes_))


def _one_vs_rest(
    node: Any, name: Any, constant: Any, values: str, output: str, classes: int
) -> None:
    """scikit-learn's one-vs-rest normalisation: each row over its sum, uniform where the
    row is all zeros."""
    from onnx import TensorProto

    axis = constant("axis", [1], TensorProto.INT64)
    total = node("ReduceSum", [values, axis], name("row_sum"), keepdims=1)
    zero = node("Equal", [total, constant("zero", 0.0)], name("all_zero"))
    filled = node("Where", [zero, constant("one", 1.0), values], name("filled"))
    divisor = node("Where", [zero, constant("classes", float(classes)), total], name("divisor"))
    node("Div", [filled, divisor], output)
