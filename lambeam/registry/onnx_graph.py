"""Writing nodes into the ONNX graph a skl2onnx converter is building: what lambeam's own
converters (float64 linear classifiers, TF-IDF weighting, HistGradientBoosting outputs) share."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GraphWriter"]


class GraphWriter:
    """Adds nodes and constants to a converter's graph under names unique in its `scope`."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def name(self, prefix: str) -> str:
        """A variable name not used yet in the graph."""
        return str(self.scope.get_unique_variable_name(prefix))

    def node(self, op: str, inputs: Any, output: str, **attrs: Any) -> str:
        """Add an `op` node reading `inputs` and writing `output`; returns `output`."""
        name = self.scope.get_unique_operator_name(op)
        self.container.add_node(op, inputs, output, name=name, **attrs)
        return output

    def constant(self, prefix: str, values: Any, proto: int | None = None) -> str:
        """Add `values` as an initializer (float64 unless `proto` says otherwise); its name."""
        if proto is None:
            from onnx import TensorProto

            proto = TensorProto.DOUBLE
        array = np.asarray(values)
        initializer = self.name(prefix)
        self.container.add_initializer(
            initializer, proto, list(array.shape), array.ravel().tolist()
        )
        return initializer
