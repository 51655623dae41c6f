"""Model versions side by side, and which one is best on each metric."""

from __future__ import annotations

import math
from typing import Any

from lambeam.errors import ConfigError
from lambeam.registry.records import ModelVersion
from lambeam.registry.versions import get_model_version
from lambeam.storage import ArtifactStore, Database

__all__ = ["LOWER_IS_BETTER", "compare_model_versions", "metric_direction"]

# Losses and errors; every other metric (accuracy, f1, r2, roc_auc, …) is better higher.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss", "mape", "brier_score"})


def metric_direction(metric: str) -> str:
    """"min" for a loss or error metric (also as a suffix: `test_rmse`), else "max"."""
    name = metric.lower()
    if name.startswith("neg_"):
        return "max"
    lower = name in LOWER_IS_BETTER or any(name.endswith("_" + loss) for loss in LOWER_IS_BETTER)
    return "min" if lower else "max"


def compare_model_versions(db: Database, store: ArtifactStore, refs: list[str]) -> dict[str, Any]:
    """The versions `refs` name, side by side.

    Returns {"refs": [resolved "name:N", …], "versions": [{ref, task, estimator, dataset, onnx_status, metrics, params, …}, …],
    "metrics": {metric: {ref: value | None}}, "params": {param: {ref: value | None}},
    "best": {metric: ref | None}, "direction": {metric: "max" | "min"}}. Ties go to the
    earliest ref given; a metric no version has as a number has best None.
    """
    if not refs:
        raise ConfigError("compare needs at least one model reference")
    versions = [get_model_version(db, store, ref) for ref in refs]
    resolved = [version.ref for version in versions]
    metrics = _table(versions, "metrics")
    best: dict[str, str | None] = {}
    direction: dict[str, str] = {}
    for metric, values in metrics.items():
        direction[metric] = metric_direction(metric)
        numbers = [(ref, value) for ref, value in values.items() if _is_number(value)]
        if not numbers:
            best[metric] = None
            continue
        pick = min if direction[metric] == "min" else max
        target = pick(value for _, value in numbers)
        best[metric] = next(ref for ref, value in numbers if value == target)
    return {
        "refs": resolved,
        "versions": [_summary(version) for version in versions],
        "metrics": metrics,
        "params": _table(versions, "params"),
        "best": best,
        "direction": direction,
    }


def _table(versions: list[ModelVersion], attribute: str) -> dict[str, dict[str, Any]]:
    keys = sorted({key for version in versions for key in getattr(version, attribute)})
    return {key: {version.ref: getattr(version, attribute).get(key) for version in versions} for key in keys}


def _summary(version: ModelVersion) -> dict[str, Any]:
    return {
        "ref": version.ref,
        "task": version.task,
        "estimator": version.estimator,
        "dataset": version.dataset,
        "dataset_version_id": version.dataset_version_id,
        "onnx_status": version.onnx_status,
        "onnx_agreement": version.onnx_check.get("agreement"),
        "aliases": list(version.aliases),
        "metrics": version.metrics,
        "params": version.params,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
        "duration_s": version.duration_s,
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
