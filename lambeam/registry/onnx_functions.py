"""The FunctionTransformers of lambeam's column operations, as ONNX.

skl2onnx converts a FunctionTransformer only when it has no function (the identity). The `log`
operation builds `FunctionTransformer(np.log1p)`; on the copy skl2onnx converts, it becomes
`Log1p`, which converts to Log(X + 1) in the input's own type. ONNX has no log1p: for x near 0,
1 + x rounds, an absolute error of at most ~1e-16, which the check's tolerance (and the
standardize that follows a log) absorbs. Any other function stays as it is and skl2onnx refuses
it with its own reason.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

__all__ = ["Log1p", "with_functions"]


class Log1p(TransformerMixin, BaseEstimator):
    """log1p of every column: a FunctionTransformer(np.log1p) as ONNX computes it."""

    def fit(self, X: Any, y: Any = None) -> Log1p:
        """Nothing to learn."""
        return self

    def transform(self, X: Any) -> np.ndarray:
        """log1p of X, as float64."""
        return np.log1p(np.asarray(X, dtype=np.float64))


def with_functions(estimator: Any) -> Any:
    """`estimator` with every FunctionTransformer(np.log1p) replaced by Log1p, in place."""
    if isinstance(estimator, FunctionTransformer) and estimator.func is np.log1p:
        _register()
        return Log1p()
    if isinstance(estimator, Pipeline):
        estimator.steps = [(name, with_functions(step)) for name, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer) and hasattr(estimator, "transformers_"):
        estimator.transformers_ = [
            (name, block if isinstance(block, str) else with_functions(block), columns)
            for name, block, columns in estimator.transformers_
        ]
    return estimator


@functools.cache
def _register() -> None:
    """Teaches skl2onnx Log1p (once per process): Log(X + 1), in the input's type."""
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxLog
    from skl2onnx.common.data_types import guess_numpy_type

    def shape(operator: Any) -> None:
        kind = operator.inputs[0].type
        operator.outputs[0].type = kind.__class__(list(kind.shape))

    def convert(scope: Any, operator: Any, container: Any) -> None:
        opset = container.target_opset
        one = np.array([1], dtype=guess_numpy_type(operator.inputs[0].type))
        node = OnnxLog(
            OnnxAdd(operator.inputs[0], one, op_version=opset),
            op_version=opset,
            output_names=operator.outputs[:1],
        )
        node.add_to(scope, container)

    update_registered_converter(Log1p, "LambeamLog1p", shape, convert)
