"""A classifier's label output in ONNX: the class at an index, by scikit-learn's `classes_`.

Shared by the float64 rewrites (`onnx_hist_trees`, `onnx_linear`), which compute a class index
themselves and must declare the label type that they then write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["add_labels", "integer_labels"]


def integer_labels(classes: np.ndarray) -> bool:
    """Whether `classes` are written as int64 (integers, booleans, whole floats), not strings."""
    kind = classes.dtype.kind
    return kind in "iub" or (kind == "f" and bool(np.all(classes == classes // 1)))


def add_labels(scope: Any, container: Any, classes: np.ndarray, index: str, label: str) -> None:
    """`label` = classes[index]: a Gather on the classes as an int64 or string initializer."""
    from onnx import TensorProto

    name = scope.get_unique_variable_name("classes")
    if integer_labels(classes):
        container.add_initializer(
            name, TensorProto.INT64, [len(classes)], [int(c) for c in classes]
        )
    else:
        values = [str(c).encode() for c in classes]
        container.add_initializer(name, TensorProto.STRING, [len(classes)], values)
    container.add_node(
        "Gather", [name, index], label, axis=0, name=scope.get_unique_operator_name("Gather")
    )
