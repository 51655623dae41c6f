"""A training run: dataset version in, scored and registered model version out."""

from __future__ import annotations

import platform
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from lambeam.data.dataset import DatasetVersion, get_dataset_version
from lambeam.errors import ConfigError, LambeamError, TrainingError
from lambeam.progress import Reporter, SilentReporter, Timings
from lambeam.registry import InputColumn, ModelVersion, Signature, register_model_version
from lambeam.storage import current_user
from lambeam.storage.jsonable import jsonable
from lambeam.training.estimators import build_estimator, estimator_path
from lambeam.training.fit_warnings import WarningText, gathering, summarise
from lambeam.training.metrics import score
from lambeam.training.search import SearchResult, run_search
from lambeam.training.spec import TrainSpec, parse_train_spec
from lambeam.training.tasks import Task, task_of

__all__ = ["TrainingRun", "run_training", "train"]

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
# The parts of a run the model version's `duration_s` covers: everything before registering,
# since the version's row is written by registering (whose time is in TrainingRun.timings).
TRAINING_PARTS = ("load dataset", "search", "fit", "score")


@dataclass(frozen=True)
class TrainingRun:
    """What a training run produced, and where its time went.

    `timings` has a part per stage (load dataset, search, fit, score, register); the model
    version's `duration_s` is the sum of the parts before register.
    """

    model_version: ModelVersion
    search: SearchResult | None
    warnings: list[str]
    timings: Timings


def run_training(project: Any, name: str, reporter: Reporter | None = None) -> TrainingRun:
    """Run the training job [train.NAME] of the project's lambeam.toml."""
    raw = project.settings.train.get(name)
    if raw is None:
        known = ", ".join(sorted(project.settings.train)) or "none declared"
        raise ConfigError(f"lambeam.toml has no [train.{name}] (training jobs: {known})")
    return train(project, parse_train_spec(name, raw), reporter)


def train(project: Any, spec: TrainSpec, reporter: Reporter | None = None) -> TrainingRun:
    """Fit `spec`'s estimator on its dataset version, score it on the test split, register it.

    Every error it raises names the job's table (`lambeam.toml [train.NAME]: …`).
    """
    with _naming(spec.where):
        return _train(project, spec, reporter or SilentReporter())


def _train(project: Any, spec: TrainSpec, reporter: Reporter) -> TrainingRun:
    timings = Timings()
    with timings.part("load dataset"):
        estimator = build_estimator(spec.estimator, spec.params)
        task = task_of(estimator, spec.estimator)
        with reporter.stage(f"loading dataset {spec.dataset}"):
            dataset = get_dataset_version(project.db, project.store, spec.dataset)
            splits = dataset.split_features()
            X_train, y_train = splits["train"]
            X_test, y_test = splits["test"]
        _check_data(spec, dataset, task, X_train, y_train)
    if not task.supervised:
        y_train = y_test = None

    search = None
    warned: list[WarningText] = []
    if spec.search is not None:
        with timings.part("search"):
            search = run_search(estimator, spec.search, X_train, y_train, task, reporter)
        estimator.set_params(**search.best.params)
        warned += [text for candidate in search.candidates for text in candidate.warnings]
    with gathering() as fitting:
        with (
            timings.part("fit"),
            reporter.stage(f"fitting {type(estimator).__name__} on {X_train.shape[0]} rows"),
        ):
            _fit(estimator, X_train, y_train, spec, dataset)
        with timings.part("score"), reporter.stage("scoring on the test split"):
            metrics = score(task, estimator, X_test, y_test)
    warned += fitting
    caught = summarise(warned)

    duration = sum(timings.parts.get(part, 0.0) for part in TRAINING_PARTS)
    with (
        gathering(registering=True) as registering,
        timings.part("register"),
        reporter.stage("registering model version"),
    ):
        pipeline = Pipeline([("transform", dataset.transform()), ("model", estimator)])
        params = {k: jsonable(v) for k, v in estimator.get_params(deep=False).items()}
        version = register_model_version(
            project.db,
            project.store,
            model=spec.model,
            pipeline=pipeline,
            task=task.name,
            estimator=spec.estimator,
            params=params,
            metrics=metrics,
            signature=_signature(dataset, task, estimator),
            lineage=_lineage(spec, dataset, search, caught, timings),
            dataset_version_id=dataset.id,
            raw_sample=dataset.raw_sample(),
            duration_s=duration,
            trusted_extra=[
                estimator_path(estimator),
                *spec.trusted,
                *dataset.manifest.transform_types,
            ],
        )
    caught += [line for line in summarise(registering) if line not in caught]
    registering_parts = _registering(version, timings.parts["register"])
    if registering_parts is not None:
        timings.details["register"] = registering_parts
    return TrainingRun(model_version=version, search=search, warnings=caught, timings=timings)


def _registering(version: ModelVersion, seconds: float) -> Timings | None:
    """Registering's own parts, as the registry measured them (None when it did not)."""
    timing = version.timing
    if timing is None:
        return None
    parts = Timings()
    # Before the registry's own clock: mostly loading the dataset's fitted transform (with skops,
    # whose first import is about a second), then a raw sample of its rows and the lineage.
    parts.add("load transform", max(seconds - timing.total_s, 0.0))
    parts.add("skops", timing.skops_s)
    parts.add("ONNX convert", timing.onnx_convert_s)
    parts.add("ONNX check", timing.onnx_check_s)
    parts.add("store", timing.store_s)
    rest = timing.total_s - (
        timing.skops_s + timing.onnx_convert_s + timing.onnx_check_s + timing.store_s
    )
    if rest >= 0.05:  # the registry's time between its named parts, when there is any to say
        parts.add("other", rest)
    return parts


@contextmanager
def _naming(where: str) -> Iterator[None]:
    """Errors raised in the block name the job's table, once (the spec's own already do)."""
    try:
        yield
    except LambeamError as exc:
        if not exc.message.startswith(where):
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.message,)
        raise


def _check_data(spec: TrainSpec, dataset: DatasetVersion, task: Task, X: Any, y: Any) -> None:
    if X.shape[0] == 0:
        raise TrainingError(f"dataset version {dataset.ref} has no training rows")
    if task.supervised and y is None:
        raise TrainingError(
            f"{spec.estimator} does {task.name} and needs a label, but dataset version "
            f"{dataset.ref} has none; set `label` in [pipelines.{dataset.pipeline}]"
        )
    problem = task.label_problem(y) if task.supervised else None
    if problem:
        raise TrainingError(f"the training split of {dataset.ref} {problem}")


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
        raise TrainingError(f"{spec.estimator} failed to fit: {first}") from None


def _signature(dataset: DatasetVersion, task: Task, estimator: Any) -> Signature:
    """The model's signature: the dataset's served columns, each nullable where the data had a
    missing value or its pipeline imputes it, and what the task's predictions hold."""
    profile = dataset.profile
    inputs = tuple(
        InputColumn(
            column.name,
            column.type,
            column.categories,
            bool(profile.get(column.name, {}).get("missing", 0)) or column.nullable,
            column.greater_than,  # a log's domain: refused at serving
        )
        for column in dataset.input_columns
    )
    return Signature(inputs, {"task": task.name, **task.outputs(estimator)})


def _lineage(
    spec: TrainSpec,
    dataset: DatasetVersion,
    search: SearchResult | None,
    warned: list[str],
    timings: Timings,
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
        # What the model version's duration_s adds up: the parts before registering.
        "timings_s": timings.to_dict(),
        "warnings": warned,
    }
