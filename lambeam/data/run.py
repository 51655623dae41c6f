"""Running a declared pipeline to a dataset version: the library call behind `lambeam pipeline run`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from lambeam.data.beam_options import parse_beam_options
from lambeam.data.dataset import DatasetVersion, _from_row, summary_columns
from lambeam.data.errors import unwrap
from lambeam.data.inputs import ServedColumn
from lambeam.data.manifest import DatasetManifest
from lambeam.data.pipeline import run_beam
from lambeam.data.sources import expand_source, hash_inputs
from lambeam.data.spec import PipelineSpec, parse_pipeline_spec
from lambeam.errors import ConfigError, EmptyDatasetError, StorageError
from lambeam.progress import Reporter, SilentReporter
from lambeam.project import Project
from lambeam.storage import current_user, utcnow
from lambeam.storage.failures import store_failures
from lambeam.storage.schema import DatasetVersionRow

__all__ = ["PipelineRun", "content_hash", "load_spec", "run_pipeline"]

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class PipelineRun:
    """What a run produced: the dataset version, and whether it is new (False: same content)."""

    dataset_version: DatasetVersion
    created: bool


def load_spec(project: Project, name: str) -> PipelineSpec:
    """The validated spec of [pipelines.NAME] in the project's lambeam.toml."""
    pipelines = project.settings.pipelines
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        raise ConfigError(f"lambeam.toml has no [pipelines.{name}]; declared pipelines: {known}")
    return parse_pipeline_spec(name, pipelines[name])


def run_pipeline(
    project: Project,
    name: str,
    beam_args: list[str] | None = None,
    reporter: Reporter | None = None,
) -> PipelineRun:
    """Run [pipelines.NAME] on Beam (options from `beam_args`) and record its dataset version."""
    reporter = reporter or SilentReporter()
    spec = load_spec(project, name)
    options = parse_beam_options(beam_args or [])
    store = project.store
    started = time.monotonic()
    source = store.failures_of(spec.source.path, f"{spec.place} source")
    with reporter.stage("hashing inputs"), store_failures(source, "read it"):
        paths = expand_source(spec.source, project.settings.root, store.storage_options)
        inputs = hash_inputs(paths, store.storage_options)
    scratch = store.scratch(uuid.uuid4().hex)
    try:
        with reporter.stage("running Beam pipeline"):
            try:
                result, runner = run_beam(spec, paths, store, scratch, options)
            except Exception as exc:  # noqa: BLE001 - Beam wraps worker errors; unwrap finds ours
                raise unwrap(exc, f"pipeline {name}") from None
    except BaseException:
        # The run's own error is the one to show: a store that failed it fails this too.
        with contextlib.suppress(StorageError):
            store.remove_scratch(scratch)
        raise
    store.remove_scratch(scratch)
    if not result.get("rows") or not result.get("shards"):
        raise EmptyDatasetError(
            f"{spec.place}: no rows to write (source {spec.source.path!r} is empty or the steps removed every row)"
        )
    with reporter.stage("storing dataset version"):
        return _record(project, spec, result, inputs, runner, time.monotonic() - started)


def content_hash(result: dict[str, Any], label: str | None) -> str:
    """sha256 of the dataset's content only: schema, features, statistics, rows and row hashes."""
    per_split: dict[str, Any] = {}
    for split in ("train", "test"):
        per_split[split] = {
            "rows": sum(s[f"{split}_rows"] for s in result["shards"]),
            "row_hash_sum": sum(s[f"{split}_hash"] for s in result["shards"]) & _MASK,
        }
    content = {
        "label": label,
        "input_columns": result["input_columns"],
        "features": result["layout"],
        "stats": result["stats"],
        "splits": per_split,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(
    project: Project,
    spec: PipelineSpec,
    result: dict[str, Any],
    inputs: list[dict[str, Any]],
    runner: str,
    duration: float,
) -> PipelineRun:
    store = project.store
    digest = content_hash(result, spec.label)
    stats_digest = store.put_bytes(json.dumps(result["stats"], sort_keys=True).encode())
    manifest = DatasetManifest(
        pipeline=spec.name,
        content_hash=digest,
        label=spec.label,
        input_columns=[ServedColumn.from_dict(c) for c in result["input_columns"]],
        features=result["layout"],
        shards=[
            {k: s[k] for k in ("digest", "rows", "train_rows", "test_rows")}
            for s in result["shards"]
        ],
        transform=result["transform_digest"],
        transform_types=result["transform_types"],
        stats=stats_digest,
        profile=result["stats"]["profile"],
        raw_sample=result["raw_sample"],
    )
    manifest_digest = store.put_bytes(manifest.to_json())

    def insert(session: Any) -> tuple[DatasetVersionRow, bool]:
        latest = session.scalars(
            select(DatasetVersionRow)
            .where(DatasetVersionRow.pipeline == spec.name)
            .order_by(DatasetVersionRow.number.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.content_hash == digest:
            return latest, False
        number = (
            session.scalar(
                select(func.max(DatasetVersionRow.number)).where(
                    DatasetVersionRow.pipeline == spec.name
                )
            )
            or 0
        ) + 1
        row = DatasetVersionRow(
            pipeline=spec.name,
            number=number,
            content_hash=digest,
            spec_hash=spec.spec_hash(),
            manifest=manifest_digest,
            rows=int(result["rows"]),
            spec=spec.to_dict(),
            inputs=inputs,
            **summary_columns(manifest),
            runner=runner,
            duration_s=duration,
            created_at=utcnow(),
            created_by=current_user(),
        )
        session.add(row)
        session.flush()
        return row, True

    row, created = project.db.write_numbered(insert)
    return PipelineRun(_from_row(row, store, manifest if created else None), created)
