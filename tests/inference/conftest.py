"""Real fitted pipelines, registered once per session: ONNX export and its trust check are real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from lambeam.project import Project
from lambeam.registry import ModelVersion
from tests.conftest import make_project
from tests.registry.fitted import (
    class_labels,
    fitted,
    frame,
    log_pipeline,
    register,
    regression_target,
    signature,
)

TRAIN, HELD_OUT = frame(rows=240, seed=0), frame(rows=120, seed=1)
CLASSIFIER_OUTPUTS = {"task": "classification", "classes": ["no", "yes"], "probabilities": True}


def instances(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Raw rows as a client sends them: one JSON object per row, null where a value is missing."""
    return [
        {
            key: None if isinstance(value, float) and np.isnan(value) else value
            for key, value in row.items()
        }
        for row in frame.astype(object).to_dict(orient="records")
    ]


@dataclass
class Models:
    """One registered version per kind of estimator a model function serves."""

    logistic: ModelVersion
    forest: ModelVersion
    linear: ModelVersion
    kmeans: ModelVersion
    isolation: ModelVersion
    unconvertible: ModelVersion

    def get(self, name: str) -> ModelVersion:
        return getattr(self, name)


@pytest.fixture(scope="session")
def inference_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project on SQLite and a folder, shared by the inference tests (registering is slow)."""
    project = make_project(Path(tmp_path_factory.mktemp("inference")) / "proj")
    yield project
    project.close()


@pytest.fixture(scope="session")
def models(inference_project: Project) -> Models:
    db, store = inference_project.db, inference_project.store
    labels, target = class_labels(TRAIN), regression_target(TRAIN)
    classifier = signature(CLASSIFIER_OUTPUTS)

    def put(pipeline, model: str, task: str, sig=None) -> ModelVersion:
        return register(db, store, pipeline, model=model, task=task, sample=HELD_OUT, sig=sig)

    return Models(
        logistic=put(
            fitted(LogisticRegression(max_iter=500), TRAIN, labels),
            "churn",
            "classification",
            classifier,
        ),
        forest=put(
            fitted(
                RandomForestClassifier(n_estimators=15, max_depth=5, n_jobs=2, random_state=0),
                TRAIN,
                labels,
            ),
            "churn-forest",
            "classification",
            classifier,
        ),
        linear=put(
            fitted(LinearRegression(), TRAIN, target),
            "spend",
            "regression",
            signature({"task": "regression"}),
        ),
        kmeans=put(
            fitted(KMeans(n_clusters=3, n_init=2, random_state=0), TRAIN),
            "segments",
            "clustering",
            signature({"task": "clustering"}),
        ),
        isolation=put(
            fitted(IsolationForest(n_estimators=25, random_state=0), TRAIN),
            "outliers",
            "anomaly_detection",
            signature({"task": "anomaly_detection"}),
        ),
        unconvertible=put(
            log_pipeline(TRAIN, labels, LogisticRegression()),
            "churn-log",
            "classification",
            classifier,
        ),
    )
