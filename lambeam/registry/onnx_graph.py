"""What lambeam's own skl2onnx converters (float64 linear classifiers, TF-IDF weighting,
HistGradientBoosting outputs) share: the fitted estimator seen as the subclass a converter is
registered for, and writing nodes into the graph skl2onnx is building."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GraphWriter", "as_subclass"]


def as_subclass(estimator: Any, kind: type) -> Any:
    """`estimator`'s fitted state as an instance of `kind` (a subclass with a converter of
    lambeam's own), for the copy skl2onnx converts; the state is shared, not copied."""
    swapped: Any = object.__new__(kind)
    swapped.__dict__.update(estimator.__dict__)
    return swapped


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
