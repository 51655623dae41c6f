"""The endpoint users write by hand for a scikit-learn model, as FastAPI's tutorials show it:
a pydantic body, a DataFrame of the instances, `model.predict` in the process.

Without `from __future__ import annotations`, on purpose: FastAPI reads the route's annotations
at run time, the way a user's module would have them.
"""

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

__all__ = ["HANDLERS", "PredictRequest", "create_app"]

# `async def` runs each predict on the event loop, one at a time; a plain `def` (what FastAPI's
# documentation advises for blocking work) runs it in the threadpool, up to 40 at once.
HANDLERS = ("async", "sync")


class PredictRequest(BaseModel):
    instances: list[dict[str, float]]


def create_app(models: dict[str, Path], handler: str = "async") -> FastAPI:
    """One route per model: POST /predict/NAME."""
    if handler not in HANDLERS:
        raise ValueError(f"handler must be one of {HANDLERS}, got {handler!r}")
    loaded = {name: joblib.load(path) for name, path in models.items()}
    app = FastAPI()

    def answer(name: str, request: PredictRequest) -> dict[str, list[Any]]:
        model = loaded.get(name)
        if model is None:
            raise HTTPException(status_code=404, detail=f"no model {name!r}")
        frame = pd.DataFrame(request.instances)
        return {"predictions": model.predict(frame).tolist()}

    if handler == "async":

        @app.post("/predict/{name}")
        async def predict(name: str, request: PredictRequest) -> dict[str, list[Any]]:
            return answer(name, request)

    else:

        @app.post("/predict/{name}")
        def predict_in_thread(name: str, request: PredictRequest) -> dict[str, list[Any]]:
            return answer(name, request)

    return app
