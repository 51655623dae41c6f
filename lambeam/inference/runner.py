"""The ModelRunner protocol, and `load_runner`, which picks a flavour for a model version.

A runner owns one loaded model and runs it on canonical frames (what `parse_request` builds);
batching, validation and the wire are someone else's. Like Beam's ModelHandler, each flavour is one
small class: `OnnxRunner` (ONNX Runtime) and `SklearnRunner` (the skops pipeline). Both run on one
thread, because a function instance serves one micro-batch at a time and instances scale by
process, not by threads inside one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from lambeam.inference.predictions import Predictions
    from lambeam.registry import ModelVersion

__all__ = ["ModelRunner", "load_runner", "serves_onnx"]


@runtime_checkable
class ModelRunner(Protocol):
    """A loaded model that predicts on canonical frames of raw columns."""

    kind: str  # "onnx" or "sklearn": which flavour answers, reported in every response
    model: str  # the model version it serves, "name:N"

    def predict(self, frame: pd.DataFrame, probabilities: bool = False) -> Predictions:
        """One prediction per row of `frame`; probabilities when asked and the model has them."""
        ...

    def predict_columns(
        self, columns: Mapping[str, np.ndarray], probabilities: bool = False
    ) -> Predictions:
        """As `predict`, from a request's checked column arrays (`ParsedRequest.columns`)."""
        ...


def load_runner(version: ModelVersion, prefer_onnx: bool = True) -> ModelRunner:
    """The runner for `version`: ONNX Runtime only when its graph is trusted, else scikit-learn.

    A graph that disagrees with scikit-learn, was never checked or did not convert is never
    served; `runner.kind` says which flavour was picked.
    """
    # The flavours are imported here: the gateway asks `serves_onnx` and never loads a model.
    if serves_onnx(version, prefer_onnx):
        from lambeam.inference.onnx_runner import OnnxRunner

        return OnnxRunner.from_version(version)
    from lambeam.inference.sklearn_runner import SklearnRunner

    return SklearnRunner.from_version(version)


def serves_onnx(version: ModelVersion, prefer_onnx: bool = True) -> bool:
    """Whether ONNX Runtime serves `version`: only when its graph is trusted."""
    return prefer_onnx and version.onnx_status == "trusted" and version.onnx_digest is not None
