"""ONNX Runtime as a model runner: the registry's trusted graph, on one thread."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lambeam.inference.predictions import Predictions, per_row
from lambeam.registry import ModelVersion
from lambeam.registry.onnx_inputs import onnx_feed
from lambeam.registry.signature import Signature
from lambeam.storage.jsonable import jsonable

__all__ = ["OnnxRunner", "onnx_classes"]

_PROVIDERS = ["CPUExecutionProvider"]
# skl2onnx names the served output "label" (classifiers, clusterers, outlier detectors) or
# "variable" (regressors); classifiers add "probabilities" (zipmap is off at export).
_LABEL_OUTPUTS = ("label", "variable")
_PROBABILITIES = "probabilities"


class OnnxRunner:
    """Runs a converted pipeline (raw columns in) in an ONNX Runtime session.

    Inputs are fed with the registry's `onnx_feed`, as float64 or float32 per the graph's
    recorded `input_type`, so serving feeds the graph exactly the way its trust check did.
    """

    kind = "onnx"

    def __init__(
        self,
        graph: bytes,
        signature: Signature,
        *,
        input_type: str = "double",
        classes: list[Any] | None = None,
        model: str = "",
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: an instance serves one batch at a time and scales by process.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(graph, options, providers=_PROVIDERS)
        self._signature = signature
        self._input_type = input_type
        self.classes = classes
        self.model = model
        names = [output.name for output in self.session.get_outputs()]
        self._label = next((name for name in _LABEL_OUTPUTS if name in names), names[0])
        self._probabilities = _PROBABILITIES if _PROBABILITIES in names else None

    @classmethod
    def from_version(cls, version: ModelVersion) -> OnnxRunner:
        """The runner for a registry version's graph (check `onnx_status` first)."""
        graph = version.onnx_bytes()
        if graph is None:
            raise ValueError(f"model {version.ref} has no ONNX graph")
        return cls(
            graph,
            version.signature,
            input_type=version.onnx_check.get("input_type") or "double",
            classes=onnx_classes(version),
            model=version.ref,
        )

    def predict(self, frame: pd.DataFrame, probabilities: bool = False) -> Predictions:
        """Labels (or values) per row, and class probabilities when asked and available."""
        feed = onnx_feed(self._signature, frame, self._input_type)
        return self._run(feed, len(frame), probabilities)

    def predict_columns(
        self, columns: Mapping[str, np.ndarray], probabilities: bool = False
    ) -> Predictions:
        """As `predict`, from checked column arrays (see ParsedRequest): no DataFrame between
        the request and the graph."""
        feed = onnx_feed(self._signature, columns, self._input_type)
        return self._run(feed, len(next(iter(columns.values()))), probabilities)

    def _run(self, feed: dict[str, np.ndarray], rows: int, probabilities: bool) -> Predictions:
        wanted = [self._label]
        if probabilities and self._probabilities is not None:
            wanted.append(self._probabilities)
        outputs = self.session.run(wanted, feed)
        labels = per_row(outputs[0], rows)
        proba = np.asarray(outputs[1], dtype=np.float64).tolist() if len(outputs) > 1 else None
        return Predictions(labels, proba, self.classes)


def onnx_classes(version: ModelVersion) -> list[Any] | None:
    """A classifier's classes in the graph's probability order (None for other tasks)."""
    classes = version.signature.classes
    if classes is None and version.task == "classification":
        # An older signature without classes: the pipeline knows them (a one-off load).
        classes = [jsonable(c) for c in getattr(version.load(), "classes_", [])] or None
    return classes
