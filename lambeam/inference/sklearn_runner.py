"""scikit-learn as a model runner: the skops pipeline, held to one thread."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from lambeam.inference.predictions import Predictions, per_row
from lambeam.inference.request import columns_frame
from lambeam.registry import ModelVersion
from lambeam.storage.jsonable import jsonable

__all__ = ["SklearnRunner"]

_threadpools: ThreadpoolController | None = None


class SklearnRunner:
    """Runs the fitted Pipeline(transform, model) with one BLAS/OpenMP thread and n_jobs=1.

    The transform runs once per call even when both predictions and probabilities are asked.
    The thread limit is applied around each call (threadpoolctl's limits are process-wide, so
    a parallel caller elsewhere in the process is held to one thread for that moment too).
    """

    kind = "sklearn"

    def __init__(self, pipeline: Any, *, model: str = "") -> None:
        jobs = {key: 1 for key in pipeline.get_params(deep=True) if key.split("__")[-1] == "n_jobs"}
        if jobs:
            pipeline.set_params(**jobs)
        self.pipeline = pipeline  # the fitted Pipeline, n_jobs set to 1
        steps = getattr(pipeline, "steps", None)
        self._transform = pipeline[:-1] if steps and len(steps) > 1 else None
        self._final = steps[-1][1] if steps else pipeline
        classes = getattr(self._final, "classes_", None)
        self.classes = None if classes is None else [jsonable(c) for c in classes]
        self.model = model

    @classmethod
    def from_version(cls, version: ModelVersion) -> SklearnRunner:
        """The runner for a registry version's pipeline, loaded with its recorded trusted types."""
        return cls(version.load(), model=version.ref)

    def predict(self, frame: pd.DataFrame, probabilities: bool = False) -> Predictions:
        """Predictions per row, and class probabilities when asked and the model has them."""
        with _one_thread():
            features = self._transform.transform(frame) if self._transform is not None else frame
            labels = per_row(self._final.predict(features), len(frame))
            proba = None
            if probabilities and self.classes is not None and hasattr(self._final, "predict_proba"):
                proba = np.asarray(self._final.predict_proba(features), dtype=np.float64).tolist()
        return Predictions(labels, proba, self.classes)

    def predict_columns(
        self, columns: Mapping[str, np.ndarray], probabilities: bool = False
    ) -> Predictions:
        """As `predict`, from checked column arrays (see ParsedRequest)."""
        return self.predict(columns_frame(dict(columns)), probabilities)


def _one_thread() -> Any:
    global _threadpools
    if _threadpools is None:
        # Inspecting the loaded libraries is slow; once per process is enough for the models
        # served here (their libraries are loaded by the time a pipeline is).
        _threadpools = ThreadpoolController()
    return _threadpools.limit(limits=1)
