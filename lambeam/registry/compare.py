"""Model versions side by side, and which one is best on each metric."""

from __future__ import annotations

import math
from typing import Any

from lambeam.errors import ConfigError
from lambeam.registry.records import ModelVersion
from lambeam.registry.versions import get_model_version
from lambeam.storage import ArtifactStore, Database

__all__ = ["LOWER_IS_BETTER", "compare_model_versions", "metric_direction"]

# The one truth of which way a metric ranks, for training's metrics (lambeam.training.metrics, which
# may import the registry but not the other way round) and for any a caller registers.
# Losses and errors (also as suffixes: `test_rmse`, `brier_score_loss`); every other metric
# (accuracy, f1, r2, roc_auc, silhouette, explained_variance, …) is better higher.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "mape", "log_loss", "loss", "error", "inertia"})
# Counts, rates and scales that describe a version rather than rank it: an anomaly detector's
# mean_score is on its own estimator's scale, and a lower anomaly_rate is not a better model.
UNRANKED = frozenset(
    {"test_rows", "train_rows", "rows", "clusters", "components", "anomaly_rate", "mean_score"}
)


def metric_direction(metric: str) -> str | None:
    """ "min" for a loss or error, None for a descriptive count, else "max"."""
    name = metric.lower()
    if name in UNRANKED:
        return None
    if name.startswith("neg_"):
        return "max"
    lower = name in LOWER_IS_BETTER or any(name.endswith("_" + loss) for loss in LOWER_IS_BETTER)
    return "min" if lower else "max"


def compare_model_versions(db: Database, store: ArtifactStore, refs: list[str]) -> dict[str, Any]:
    """The versions `refs` name, side by side.

    Returns {"refs": [resolved "name:N", …], "versions": [{ref, task, estimator, dataset, onnx_status, metrics, params, …}, …],
    "metrics": {metric: {ref: value | None}}, "params": {param: {ref: value | None}},
    "best": {metric: ref}, "tied": {metric: [refs equal at best]}, "direction": {metric: "max" |
    "min"}, "unranked": why no metric ranks them, or None}. Only metrics that rank (numbers, not
    counts like test_rows) appear in best; a tie goes to the earliest ref given, and is listed in
    tied. Versions that share no ranked metric (anomaly detectors have none) are shown side by
    side, unranked. Fewer than two different versions, or versions of different tasks, are a
    ConfigError.
    """
    if not refs:
        raise ConfigError("compare needs at least one model reference")
    versions: list[ModelVersion] = []
    for ref in refs:
        version = get_model_version(db, store, ref)
        if all(version.ref != seen.ref for seen in versions):  # `churn` and `churn:3` may coincide
            versions.append(version)
    resolved = [version.ref for version in versions]
    if len(versions) < 2:
        raise ConfigError(
            f"compare needs two or more different model versions; {', '.join(refs)} name only"
            f" {resolved[0]}"
        )
    _check_same_task(versions)
    metrics = _table(versions, "metrics")
    best: dict[str, str] = {}
    tied: dict[str, list[str]] = {}
    direction: dict[str, str] = {}
    for metric, values in metrics.items():
        way = metric_direction(metric)
        numbers = [(ref, value) for ref, value in values.items() if _is_number(value)]
        if way is None or len(numbers) < 2:  # a metric only one version has ranks nothing
            continue
        direction[metric] = way
        target = (min if way == "min" else max)(value for _, value in numbers)
        best[metric] = next(ref for ref, value in numbers if value == target)
        tied[metric] = [ref for ref, value in numbers if value == target]
    return {
        "refs": resolved,
        "versions": [_summary(version) for version in versions],
        "metrics": metrics,
        "params": _table(versions, "params"),
        "best": best,
        "tied": {metric: refs for metric, refs in tied.items() if len(refs) > 1},
        "direction": direction,
        "unranked": None if best else _why_unranked(versions),
    }


def _check_same_task(versions: list[ModelVersion]) -> None:
    """Refuse to rank a classifier against a regressor: their metrics measure other things."""
    first = versions[0]
    for other in versions[1:]:
        if other.task != first.task:
            raise ConfigError(
                f"cannot compare {first.ref} with {other.ref}: {first.ref} does {first.task} and"
                f" {other.ref} does {other.task}, so their metrics measure different things;"
                " compare versions of the same task"
            )


def _why_unranked(versions: list[ModelVersion]) -> str:
    """Why no metric ranks `versions`: which ranked metrics each has (an anomaly detector's
    anomaly_rate and mean_score describe it, they do not rank it)."""
    ranked = [
        sorted(m for m, v in version.metrics.items() if _is_number(v) and metric_direction(m))
        for version in versions
    ]
    described = "; ".join(
        f"{version.ref}: {', '.join(names) or 'none'}"
        for version, names in zip(versions, ranked, strict=True)
    )
    return f"no metric in common ranks these versions (ranked metrics: {described})"


def _table(versions: list[ModelVersion], attribute: str) -> dict[str, dict[str, Any]]:
    keys = sorted({key for version in versions for key in getattr(version, attribute)})
    return {
        key: {version.ref: getattr(version, attribute).get(key) for version in versions}
        for key in keys
    }


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
