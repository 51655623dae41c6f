"""Real, small fitted pipelines of the shape training registers: raw columns in, predictions out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from lambeam.registry import ModelVersion, register_model_version
from lambeam.storage import ArtifactStore, Database

CITIES = ["lisbon", "oslo", "quito"]


def frame(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Raw rows: two numbers (one with gaps) and a string category."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "amount": rng.normal(50, 10, rows),
            "age": rng.uniform(18, 80, rows),
            "city": rng.choice(CITIES, rows),
        }
    )
    data.loc[::9, "amount"] = np.nan
    return data


def class_labels(data: pd.DataFrame) -> np.ndarray:
    score = (
        data["amount"].fillna(50).to_numpy() / 10
        - data["age"].to_numpy() / 20
        + (data["city"] == "oslo") * 1.5
    )
    return np.where(score > np.median(score), "yes", "no")


def regression_target(data: pd.DataFrame) -> np.ndarray:
    return (
        3 * data["amount"].fillna(50).to_numpy()
        - data["age"].to_numpy()
        + 10 * (data["city"] == "quito")
    )


def transform() -> ColumnTransformer:
    """Impute and scale numbers, one-hot the city: the shape of a dataset's fitted transform."""
    numbers = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    return ColumnTransformer(
        [
            ("numbers", numbers, ["amount", "age"]),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )


def fitted(
    estimator: BaseEstimator, data: pd.DataFrame, y: Any = None, steps: Any = None
) -> Pipeline:
    pipeline = Pipeline(
        [("transform", steps if steps is not None else transform()), ("model", estimator)]
    )
    return pipeline.fit(data, y) if y is not None else pipeline.fit(data)


def signature(outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "amount", "type": "number", "categories": None, "nullable": True},
            {"name": "age", "type": "number", "categories": None, "nullable": False},
            {"name": "city", "type": "string", "categories": list(CITIES), "nullable": False},
        ],
        "outputs": outputs or {},
    }


def log_pipeline(data: pd.DataFrame, y: np.ndarray, estimator: BaseEstimator) -> Pipeline:
    """A pipeline that does not convert: a FunctionTransformer with a function lambeam does not
    translate to ONNX (log1p, the `log` operation's, converts: registry/onnx_functions.py)."""
    steps = ColumnTransformer([("log", FunctionTransformer(np.log2), ["age"])])
    return fitted(estimator, data, y, steps=steps)


def register(
    db: Database,
    store: ArtifactStore,
    pipeline: Pipeline,
    *,
    model: str = "churn",
    task: str = "classification",
    sample: pd.DataFrame | None = None,
    metrics: dict[str, Any] | None = None,
    sig: dict[str, Any] | None = None,
    **extra: Any,
) -> ModelVersion:
    final = pipeline.steps[-1][1]
    return register_model_version(
        db,
        store,
        model=model,
        pipeline=pipeline,
        task=task,
        estimator=f"{type(final).__module__}.{type(final).__name__}",
        params=final.get_params(deep=False),
        metrics=metrics if metrics is not None else {"accuracy": 0.9},
        signature=sig or signature(),
        lineage={"dataset": {"ref": "toy:1"}},
        dataset_version_id=None,
        raw_sample=sample,
        duration_s=0.5,
        **extra,
    )
