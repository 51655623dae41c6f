"""The answer to a predict request, as a JSON-able dict."""

from __future__ import annotations

from typing import Any

from lambeam.inference.predictions import Predictions
from lambeam.storage.jsonable import jsonable

__all__ = ["format_response"]


def format_response(
    predictions: Predictions, *, probabilities: bool, model: str, runner: str
) -> dict[str, Any]:
    """`{"predictions", "probabilities"?, "classes"?, "model", "runner"}` for one request.

    Probabilities appear only when the request asked (`probabilities`) and the model has them (a
    batch may have computed them for a neighbour that asked); classes whenever the model is a
    classifier. NumPy values become plain ones and NaN becomes null, so the dict goes straight
    to json.dumps.
    """
    body: dict[str, Any] = {"predictions": jsonable(predictions.predictions)}
    if probabilities and predictions.probabilities is not None:
        body["probabilities"] = jsonable(predictions.probabilities)
    if predictions.classes is not None:
        body["classes"] = jsonable(predictions.classes)
    body["model"] = model
    body["runner"] = runner
    return body
