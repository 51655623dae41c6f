"""The quickstart: the whole flow on data shipped with lambeam, in a fresh project folder.

Two Beam pipelines (Palmer penguins, tabular with gaps and categories; tweets, text), two candidate
models for the penguins compared and the better one aliased `prod`, and a text classifier.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambeam.data import run_pipeline
from lambeam.progress import Reporter, SilentReporter
from lambeam.project import init_project
from lambeam.registry import compare_model_versions, set_alias
from lambeam.training import run_training

__all__ = ["QuickstartSummary", "run_quickstart"]

_HERE = Path(__file__).resolve().parent
_CANDIDATES = ("penguins_logreg", "penguins_forest")
# The metric the two penguin candidates are compared on.
_DECIDING_METRIC = "f1"


@dataclass
class QuickstartSummary:
    """What the quickstart did, for a face to print."""

    root: Path
    lines: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    prod: str = ""


def run_quickstart(directory: Path, reporter: Reporter | None = None) -> QuickstartSummary:
    """Make a project in `directory` and run pipelines, training, comparison and aliasing in it."""
    reporter = reporter or SilentReporter()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_HERE / "data", directory / "data", dirs_exist_ok=True)
    config = directory / "lambeam.toml"
    if not config.exists():
        shutil.copyfile(_HERE / "lambeam.toml", config)
    project = init_project(directory)
    summary = QuickstartSummary(root=directory)
    try:
        for pipeline in ("penguins", "tweets"):
            run = run_pipeline(project, pipeline, reporter=reporter)
            ds = run.dataset_version
            summary.lines.append(f"pipeline {pipeline}: dataset version {ds.ref}, {ds.rows} rows")
        refs = []
        for job in (*_CANDIDATES, "tweets_text"):
            version = run_training(project, job, reporter).model_version
            summary.lines.append(
                f"train {job}: {version.ref} ({version.estimator.rsplit('.', 1)[-1]}), ONNX {version.onnx_status}"
            )
            summary.metrics[version.ref] = version.metrics
            if job in _CANDIDATES:
                refs.append(version.ref)
        comparison = compare_model_versions(project.db, project.store, refs)
        best_ref = comparison["best"][_DECIDING_METRIC]
        model, _, number = best_ref.partition(":")
        set_alias(project.db, model, "prod", int(number))
        summary.prod = best_ref
        summary.lines.append(f"compared {' vs '.join(refs)} on {_DECIDING_METRIC}: {best_ref} is better")
        summary.lines.append(f"project: {directory} (try `lambeam -C {directory} models ls`)")
    finally:
        project.close()
    return summary
