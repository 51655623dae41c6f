"""A training run: dataset version in, scored and registered model version out."""

from __future__ import annotations

import platform
import socket
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from lambeam.data.dataset import DatasetVersion, get_dataset_version
from lambeam.errors import ConfigError, TrainingError
from lambeam.progress import Reporter, SilentReporter
from lambeam.registry import ModelVersion, register_model_version
from lambeam.storage import current_user
from lambeam.storage.jsonable import jsonable
from lambeam.training.estimators import build_estimator, estimator_path, infer_task
from lambeam.training.metrics import score
from lambeam.training.search import SearchResult, run_search
from lambeam.training.spec import TrainSpec, parse_train_spec

__all__ = ["TrainingRun", "run_training", "train"]

_SUPERVISED = {"classification", "regression"}
_LIBRARIES = (
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "apache-beam",
    "skops",
    "skl2onnx",
    "onnxruntime",
    "lambeam",
)


@dataclass(frozen=True)
class TrainingRun:
    """What a training run produced."""

    model_version: ModelVersion
    search: SearchResult | None
    warnings: list[str]


def run_training(project: Any, name: str, reporter: Reporter | None = None) -> TrainingRun:
    """Run the training job [train.NAME] of the project's lambeam.toml."""
    raw = project.settings.train.get(name)
    if raw is None:
        known = ", ".join(sorted(project.settings.train)) or "none declared"
        raise ConfigError(f"lambeam.toml has no [train.{name}] (training jobs: {known})")
    return train(project, parse_train_spec(name, raw), reporter)


def train(project: Any, spec: TrainSpec, reporter: Reporter | None = None) -> TrainingRun:
    """Fit `spec`'s estimator on its dataset version, score it on the test split, register it."""
    reporter = reporter or SilentReporter()
    started = time.perf_counter()
    estimator = build_estimator(spec.estimator, spec.params)
    task = infer_task(estimator)
    with reporter.stage(f"loading dataset {spec.dataset}"):
        dataset = get_dataset_version(project.db, project.store, spec.dataset)
        splits = dataset.split_features()
        X_train, y_train = splits["train"]
        X_test, y_test = splits["test"]
    _check_data(spec, dataset, task, X_train, y_train)
    if task not in _SUPERVISED:
        y_train = y_test = None

    search = None
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ConvergenceWarning)
        if spec.search is not None:
            search = run_search(estimator, spec.search, X_train, y_train, task, reporter)
            estimator.set_params(**search.best.params)
        with reporter.stage(f"fitting {type(estimator).__name__} on {X_train.shape[0]} rows"):
            _fit(estimator, X_train, y_train, spec, dataset)
        with reporter.stage("scoring on the test split"):
            metrics = score(task, estimator, X_test, y_test)
    caught = sorted(
        {
            f"{w.category.__name__}: {w.message}"
            for w in seen
            if issubclass(w.category, ConvergenceWarning)
        }
    )

    pipeline = Pipeline([("transform", dataset.transform()), ("model", estimator)])
    params = {k: jsonable(v) for k, v in estimator.get_params(deep=False).items()}
    duration = time.perf_counter() - started
    with reporter.stage("registering model version"):
        version = register_model_version(
            project.db,
            project.store,
            model=spec.model,
            pipeline=pipeline,
            task=task,
            estimator=spec.estimator,
            params=params,
            metrics=metrics,
            signature=_signature(dataset, task, estimator),
            lineage=_lineage(spec, dataset, search, caught, duration),
            dataset_version_id=dataset.id,
            raw_sample=dataset.raw_sample(),
            duration_s=duration,
            trusted_extra=[
                estimator_path(estimator),
                *spec.trusted,
                *dataset.manifest.get("transform_types", []),
            ],
        )
    return TrainingRun(model_version=version, search=search, warnings=caught)


def _check_data(spec: TrainSpec, dataset: DatasetVersion, task: str, X: Any, y: Any) -> None:
    where = f"[train.{spec.name}]"
    if X.shape[0] == 0:
        raise TrainingError(f"{where}: dataset version {dataset.ref} has no training rows")
    if task in _SUPERVISED and y is None:
        raise TrainingError(
            f"{where}: {spec.estimator} does {task} and needs a label, but dataset version "
            f"{dataset.ref} has none; set `label` in [pipelines.{dataset.pipeline}]"
        )
    if task == "classification" and len(np.unique(y.astype(str))) < 2:
        raise TrainingError(f"{where}: the training split of {dataset.ref} has only one class")


def _fit(estimator: Any, X: Any, y: Any, spec: TrainSpec, dataset: DatasetVersion) -> None:
    try:
        estimator.fit(X, y) if y is not None else estimator.fit(X)
    except (ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "NaN" in first and isinstance(X, np.ndarray):
            gaps = [
                n
                for n, bad in zip(
                    dataset.feature_names(), np.asarray(np.isnan(X).any(axis=0)), strict=False
                )
                if bad
            ]
            first += (
                f" (features with missing values: {', '.join(gaps[:5])}; give them an impute "
                f"operation in [pipelines.{dataset.pipeline}.columns])"
            )
        raise TrainingError(
            f"[train.{spec.name}]: {spec.estimator} failed to fit: {first}"
        ) from None


def _signature(dataset: DatasetVersion, task: str, estimator: Any) -> dict[str, Any]:
    profile = dataset.profile
    inputs = []
    for column in dataset.input_columns:
        stats = profile.get(column["name"], {})
        entry = {
            "name": column["name"],
            "type": column["type"],
            "categories": column.get("categories"),
            "nullable": bool(stats.get("missing", 0)) or column.get("nullable", False),
        }
        if column.get("greater_than") is not None:  # a log's domain: refused at serving
            entry["greater_than"] = column["greater_than"]
        inputs.append(entry)
    outputs: dict[str, Any] = {"task": task}
    if task == "classification":
        outputs["classes"] = [jsonable(c) for c in estimator.classes_]
        outputs["probabilities"] = hasattr(estimator, "predict_proba")
    return {"inputs": inputs, "outputs": outputs}


def _lineage(
    spec: TrainSpec,
    dataset: DatasetVersion,
    search: SearchResult | None,
    warned: list[str],
    duration: float,
) -> dict[str, Any]:
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return {
        "dataset": {"ref": dataset.ref, "id": dataset.id, "content_hash": dataset.content_hash},
        "training_spec": {"name": spec.name, "hash": spec.spec_hash, "declared": dict(spec.raw)},
        "search": search.to_dict() if search else None,
        "libraries": versions,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "user": current_user(),
        "duration_s": round(duration, 3),
        "warnings": warned,
    }
