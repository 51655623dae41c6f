"""HistGradientBoosting as ONNX that routes every row as scikit-learn does, in float64.

scikit-learn's HistGradientBoosting compares float64 inputs with float64 thresholds (unlike its
other trees, which cast their input to float32 first). skl2onnx's converter writes the thresholds
as float32 attributes and, given float64 inputs, declares float64 probabilities that ONNX
Runtime's TreeEnsembleClassifier does not produce, so the graph only loads when the whole
pipeline runs in float32. Casting to float32 before the trees (as lambeam does for forests) would
load, but it is not faithful here: a value within float32 rounding above a threshold (the
thresholds are midpoints between training values) goes left in float32 and right in scikit-learn.

So `convertible` swaps the fitted estimator for a subclass converted here: one ONNX-ML
TreeEnsembleRegressor (opset 3) with float64 thresholds and leaf values (`*_as_tensor`), the
baseline as its base values, then scikit-learn's own link (sigmoid, softmax, exp or identity)
and its label rule (raw > 0 for two classes, argmax otherwise). The operator's output is float32
by the ONNX-ML specification, so the raw scores are rounded once, after the float64 sum:
probabilities agree to ~1e-7 and a two-class label, decided by the sign, exactly.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from lambeam.registry.onnx_graph import GraphWriter, as_subclass
from lambeam.registry.onnx_labels import add_labels

__all__ = ["Float64HistClassifier", "Float64HistRegressor", "float64_hist_trees"]


class Float64HistClassifier(HistGradientBoostingClassifier):
    """A fitted HistGradientBoostingClassifier, converted by this module (same predictions)."""


class Float64HistRegressor(HistGradientBoostingRegressor):
    """A fitted HistGradientBoostingRegressor, converted by this module (same predictions)."""


def float64_hist_trees(estimator: Any) -> Any:
    """`estimator` as the subclass this module converts when it is a HistGradientBoosting model,
    else `estimator` unchanged. The fitted state is shared, not copied (nothing changes it)."""
    kinds = {
        HistGradientBoostingClassifier: Float64HistClassifier,
        HistGradientBoostingRegressor: Float64HistRegressor,
    }
    kind = kinds.get(type(estimator))
    if kind is None:
        return estimator
    _register()
    return as_subclass(estimator, kind)


@functools.cache
def _register() -> None:
    """Teaches skl2onnx both subclasses (once per process)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.shape_calculators.linear_classifier import (
        calculate_linear_classifier_output_shapes,
    )
    from skl2onnx.shape_calculators.linear_regressor import (
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        Float64HistClassifier,
        "LambeamFloat64HistClassifier",
        calculate_linear_classifier_output_shapes,
        _convert,
        # skl2onnx's classifier parser asks for nocl and output_class_labels: only their
        # defaults are accepted (this converter writes neither form).
        options={
            "zipmap": [True, False, "columns"],
            "nocl": [False],
            "output_class_labels": [False],
        },
    )
    update_registered_converter(
        Float64HistRegressor,
        "LambeamFloat64HistRegressor",
        calculate_linear_regressor_output_shapes,
        _convert,
    )


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.common.data_types import guess_numpy_type, guess_proto_type

    model = operator.raw_operator
    _refuse_what_it_cannot_express(model)
    dtype = np.float64 if guess_numpy_type(operator.inputs[0].type) == np.float64 else np.float32
    proto = guess_proto_type(operator.inputs[0].type)
    raw32 = scope.get_unique_variable_name("raw_scores_f32")
    container.add_node(
        "TreeEnsembleRegressor",
        operator.inputs[0].full_name,
        raw32,
        op_domain="ai.onnx.ml",
        op_version=3,
        name=scope.get_unique_operator_name("TreeEnsembleRegressor"),
        **_tree_attributes(model, dtype),
    )
    raw = scope.get_unique_variable_name("raw_scores")
    container.add_node("Cast", raw32, raw, to=proto, name=scope.get_unique_operator_name("Cast"))
    if isinstance(model, HistGradientBoostingClassifier):
        _classifier_outputs(scope, operator, container, model, raw, proto)
        return
    link = type(model._loss.link).__name__
    if link == "LogLink":
        container.add_node(
            "Exp", raw, operator.outputs[0].full_name, name=scope.get_unique_operator_name("Exp")
        )
    else:
        container.add_node(
            "Identity",
            raw,
            operator.outputs[0].full_name,
            name=scope.get_unique_operator_name("Identity"),
        )


def _refuse_what_it_cannot_express(model: Any) -> None:
    if getattr(model, "_preprocessor", None) is not None:
        raise NotImplementedError(
            "HistGradientBoosting with categorical_features encodes categories itself (an"
            " OrdinalEncoder inside the estimator), which has no ONNX form here; one-hot the"
            " column in the dataset's transform instead"
        )
    if any(tree.nodes["is_categorical"].any() for trees in model._predictors for tree in trees):
        raise NotImplementedError("HistGradientBoosting's categorical splits have no ONNX form")
    link = type(model._loss.link).__name__
    known = ("LogitLink", "MultinomialLogit") if hasattr(model, "classes_") else ()
    if link not in (*known, "IdentityLink", "LogLink"):
        raise NotImplementedError(f"HistGradientBoosting with link {link} has no ONNX form here")


def _tree_attributes(model: Any, dtype: type) -> dict[str, Any]:
    """TreeEnsembleRegressor attributes: every iteration's trees summed per output, baseline
    included, thresholds and leaf values in `dtype` (float64 as tensors: opset 3's way)."""
    from onnx import numpy_helper
    from skl2onnx.common.tree_ensemble import (
        add_tree_to_attribute_pairs_hist_gradient_boosting,
        get_default_tree_regressor_attribute_pairs,
    )

    outputs = int(model.n_trees_per_iteration_)
    attrs = get_default_tree_regressor_attribute_pairs()
    attrs["n_targets"] = outputs
    attrs["post_transform"] = "NONE"
    for iteration, trees in enumerate(model._predictors):
        for target, tree in enumerate(trees):
            add_tree_to_attribute_pairs_hist_gradient_boosting(
                attrs, False, tree, iteration * outputs + target, 1.0, target, False, False
            )
    attrs.pop("nodes_hitrates", None)
    tracks = attrs.get("nodes_missing_value_tracks_true")
    if tracks is not None:  # numpy booleans: ONNX wants ints
        attrs["nodes_missing_value_tracks_true"] = [int(flag) for flag in tracks]
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    numbers = {
        "nodes_values": np.asarray(attrs.pop("nodes_values"), dtype=np.float64),
        "target_weights": np.asarray(attrs.pop("target_weights"), dtype=np.float64),
        "base_values": baseline,
    }
    for name, values in numbers.items():
        if dtype == np.float64:
            attrs[f"{name}_as_tensor"] = numpy_helper.from_array(values, name=name)
        else:
            attrs[name] = values.astype(np.float32).tolist()
    return attrs


def _classifier_outputs(
    scope: Any, operator: Any, container: Any, model: Any, raw: str, proto: int
) -> None:
    """Label and probabilities from the raw scores, by scikit-learn's rules."""
    from onnx import TensorProto

    graph = GraphWriter(scope, container)
    name, node = graph.name, graph.node

    label, probabilities = operator.outputs[0].full_name, operator.outputs[1].full_name
    index = name("class_index")
    if model.n_trees_per_iteration_ == 1:
        positive = name("positive")
        node("Sigmoid", raw, positive)
        one = graph.constant("one", 1.0, proto)
        negative = name("negative")
        node("Sub", [one, positive], negative)
        node("Concat", [negative, positive], probabilities, axis=1)
        zero = graph.constant("zero", 0.0, proto)
        above = name("above_zero")
        node("Greater", [raw, zero], above)
        as_int = name("above_zero_int")
        node("Cast", above, as_int, to=TensorProto.INT64)
        shape = graph.constant("flat", [-1], TensorProto.INT64)
        node("Reshape", [as_int, shape], index)
    else:
        node("Softmax", raw, probabilities, axis=1)
        node("ArgMax", raw, index, axis=1, keepdims=0)
    add_labels(scope, container, model.classes_, index, label)
