"""Registering model versions and finding them again by reference.

A version's artifacts (skops, ONNX) are in the store before its row is inserted, so no row ever
points at a missing blob. Numbers are max+1 within the inserting transaction; the unique
(model, number) constraint turns a concurrent register into a conflict that Database.write_numbered retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lambeam.errors import (
    AliasNotFoundError,
    DatasetNotFoundError,
    ModelNotFoundError,
    TrainingError,
)
from lambeam.registry.records import ModelSummary, ModelVersion, RegisterTiming
from lambeam.registry.refs import check_model_name, parse_model_ref
from lambeam.registry.signature import Signature
from lambeam.storage import ArtifactStore, Database, current_user, utcnow
from lambeam.storage.audit import record
from lambeam.storage.database import as_utc
from lambeam.storage.jsonable import jsonable
from lambeam.storage.schema import DatasetVersionRow, ModelAliasRow, ModelRow, ModelVersionRow

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "get_model_version",
    "list_model_versions",
    "list_models",
    "register_model_version",
    "require_model",
]

log = logging.getLogger(__name__)


def register_model_version(
    db: Database,
    store: ArtifactStore,
    *,
    model: str,
    pipeline: Any,
    task: str,
    estimator: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    signature: Signature | dict[str, Any],
    lineage: dict[str, Any],
    dataset_version_id: int | None,
    raw_sample: pd.DataFrame | None,
    duration_s: float,
    trusted_extra: Iterable[str] = (),
    created_by: str | None = None,
) -> ModelVersion:
    """Store a fitted pipeline as the next version of `model` (created on first use).

    The pipeline is saved as skops (refused with UntrustedModelError if it holds a type outside
    scikit-learn, NumPy, SciPy, lambeam and `trusted_extra`) and exported to ONNX, checked on
    `raw_sample` (held-out raw rows); an ONNX failure is recorded, never raised. The returned
    record's `timing` says where the time went.
    """
    started = time.perf_counter()
    check_model_name(model)
    for what, value in (("task", task), ("estimator", estimator)):
        if not isinstance(value, str) or not value:
            raise TrainingError(f"model {model!r}: {what} must be a non-empty string")
    from lambeam.registry.onnx_export import export_onnx  # scikit-learn: only when registering
    from lambeam.storage.trusted import dump_pipeline

    checked = _checked_signature(signature)
    data, trusted_types = dump_pipeline(
        pipeline, trusted_extra=trusted_extra, what=f"model {model!r}"
    )
    skops_s = time.perf_counter() - started
    exported = export_onnx(pipeline, checked, raw_sample)
    stored = time.perf_counter()
    skops_digest = store.put_bytes(data)
    onnx_digest = store.put_bytes(exported.model) if exported.model is not None else None
    values = {
        "task": task,
        "estimator": estimator,
        "skops": skops_digest,
        "onnx": onnx_digest,
        "onnx_status": exported.status,
        "onnx_check": jsonable(exported.check),
        "trusted_types": trusted_types,
        "params": jsonable(dict(params)),
        "metrics": jsonable(dict(metrics)),
        "signature": checked.to_dict(),
        "lineage": jsonable(dict(lineage)),
        "dataset_version_id": dataset_version_id,
        "duration_s": float(duration_s),
        "created_by": created_by or current_user(),
    }

    def insert(session: Any) -> tuple[ModelVersionRow, dict[int | None, str]]:
        row = _insert_version(session, model, values)
        dataset = _dataset_refs(session, [row])
        details = {
            "estimator": estimator,
            "task": task,
            "skops_sha256": skops_digest,
            "onnx_sha256": onnx_digest,
            "onnx_status": exported.status,
            "dataset": dataset.get(row.dataset_version_id),
        }
        record(session, "models:RegisterModelVersion", f"model:{model}:{row.number}", details)
        return row, dataset

    row, dataset = db.write_numbered(insert)
    version = _record(row, store, [], dataset.get(row.dataset_version_id))
    done = time.perf_counter()
    version.timing = RegisterTiming(
        skops_s=skops_s,
        onnx_convert_s=exported.seconds.get("onnx_convert_s", 0.0),
        onnx_check_s=exported.seconds.get("onnx_check_s", 0.0),
        store_s=done - stored,
        total_s=done - started,
    )
    _log_onnx(version)
    return version


def _checked_signature(signature: Any) -> Signature:
    """`signature` checked, its values made plain for JSON (a NumPy class label, a tuple of
    categories), as a Signature; TrainingError naming what is malformed."""
    if isinstance(signature, Signature):
        signature = signature.to_dict()
    if isinstance(signature, dict):
        signature = jsonable(signature)
    return Signature.from_dict(signature)


def _log_onnx(version: ModelVersion) -> None:
    check = version.onnx_check
    if version.onnx_status == "disagrees":
        log.warning(
            "model %s: its ONNX graph disagrees with scikit-learn on a %d-row sample (agreement %s, max"
            " abs diff %s%s); it is stored but not trusted",
            version.ref,
            check.get("rows", 0),
            check.get("agreement"),
            check.get("max_abs_diff"),
            f", {check['error']}" if check.get("error") else "",
        )
    elif version.onnx_status == "unconvertible":
        log.info("model %s: not convertible to ONNX: %s", version.ref, check.get("error"))


def _insert_version(session: Session, model: str, values: dict[str, Any]) -> ModelVersionRow:
    now = utcnow()
    dataset_id = values["dataset_version_id"]
    if dataset_id is not None and session.get(DatasetVersionRow, dataset_id) is None:
        raise DatasetNotFoundError(
            f"model {model!r}: there is no dataset version with id {dataset_id}"
        )
    if session.get(ModelRow, model) is None:
        session.add(ModelRow(name=model, description="", created_at=now))
        session.flush()
    latest = session.scalar(
        select(func.max(ModelVersionRow.number)).where(ModelVersionRow.model == model)
    )
    row = ModelVersionRow(model=model, number=(latest or 0) + 1, created_at=now, **values)
    session.add(row)
    session.flush()
    return row


def get_model_version(db: Database, store: ArtifactStore, ref: str) -> ModelVersion:
    """The version `ref` names: `name` (the newest), `name:N`, or `name@alias`."""
    parsed = parse_model_ref(ref)
    with db.session() as session:
        require_model(session, parsed.name)
        number = parsed.number
        if parsed.alias is not None:
            alias = session.get(ModelAliasRow, (parsed.name, parsed.alias))
            if alias is None:
                raise AliasNotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}")
            number = alias.version
        query = select(ModelVersionRow).where(ModelVersionRow.model == parsed.name)
        if number is None:
            query = query.order_by(ModelVersionRow.number.desc()).limit(1)
        else:
            query = query.where(ModelVersionRow.number == number)
        row = session.scalars(query).first()
        if row is None:
            if number is None:
                raise ModelNotFoundError(f"model {parsed.name!r} has no versions")
            raise ModelNotFoundError(f"model {parsed.name!r} has no version {number}")
        aliases = _aliases_by_version(session, parsed.name).get(row.number, [])
        dataset = _dataset_refs(session, [row])
    return _record(row, store, aliases, dataset.get(row.dataset_version_id))


def list_model_versions(db: Database, store: ArtifactStore, name: str) -> list[ModelVersion]:
    """Every version of model `name`, oldest first."""
    with db.session() as session:
        require_model(session, name)
        rows = list(
            session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model == name)
                .order_by(ModelVersionRow.number)
            )
        )
        aliases = _aliases_by_version(session, name)
        datasets = _dataset_refs(session, rows)
    return [
        _record(row, store, aliases.get(row.number, []), datasets.get(row.dataset_version_id))
        for row in rows
    ]


def list_models(db: Database) -> list[ModelSummary]:
    """Every model, by name: newest version number, version count, aliases, last change."""
    with db.session() as session:
        models = list(session.scalars(select(ModelRow).order_by(ModelRow.name)))
        stats = {
            name: (latest, count, newest)
            for name, latest, count, newest in session.execute(
                select(
                    ModelVersionRow.model,
                    func.max(ModelVersionRow.number),
                    func.count(ModelVersionRow.id),
                    func.max(ModelVersionRow.created_at),
                ).group_by(ModelVersionRow.model)
            )
        }
        aliases: dict[str, dict[str, int]] = {}
        alias_times: dict[str, list[datetime]] = {}
        for alias in session.scalars(select(ModelAliasRow).order_by(ModelAliasRow.alias)):
            aliases.setdefault(alias.model, {})[alias.alias] = alias.version
            alias_times.setdefault(alias.model, []).append(as_utc(alias.updated_at))
    summaries = []
    for model in models:
        latest, count, newest = stats.get(model.name, (None, 0, None))
        times = [as_utc(model.created_at), *alias_times.get(model.name, [])]
        if newest is not None:
            times.append(as_utc(newest))
        summaries.append(
            ModelSummary(
                name=model.name,
                description=model.description,
                latest=latest,
                versions=count,
                aliases=aliases.get(model.name, {}),
                created_at=as_utc(model.created_at),
                updated_at=max(times),
            )
        )
    return summaries


def require_model(session: Session, name: str) -> ModelRow:
    """The model's row, or ModelNotFoundError."""
    check_model_name(name)
    row = session.get(ModelRow, name)
    if row is None:
        raise ModelNotFoundError(f"there is no model named {name!r}")
    return row


def _aliases_by_version(session: Session, name: str) -> dict[int, list[str]]:
    aliases: dict[int, list[str]] = {}
    for alias in session.scalars(
        select(ModelAliasRow).where(ModelAliasRow.model == name).order_by(ModelAliasRow.alias)
    ):
        aliases.setdefault(alias.version, []).append(alias.alias)
    return aliases


def _dataset_refs(session: Session, rows: list[ModelVersionRow]) -> dict[int | None, str]:
    ids = {row.dataset_version_id for row in rows if row.dataset_version_id is not None}
    if not ids:
        return {}
    found = session.execute(
        select(DatasetVersionRow.id, DatasetVersionRow.pipeline, DatasetVersionRow.number).where(
            DatasetVersionRow.id.in_(ids)
        )
    )
    return {id_: f"{pipeline}:{number}" for id_, pipeline, number in found}


def _record(
    row: ModelVersionRow, store: ArtifactStore, aliases: list[str], dataset: str | None
) -> ModelVersion:
    return ModelVersion(
        name=row.model,
        number=row.number,
        task=row.task,
        estimator=row.estimator,
        params=dict(row.params),
        metrics=dict(row.metrics),
        signature=Signature.from_stored(row.signature),
        lineage=dict(row.lineage),
        onnx_status=row.onnx_status,
        onnx_check=dict(row.onnx_check or {}),
        skops_digest=row.skops,
        onnx_digest=row.onnx,
        trusted_types=list(row.trusted_types),
        aliases=list(aliases),
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        duration_s=row.duration_s,
        dataset_version_id=row.dataset_version_id,
        dataset=dataset,
        store=store,
    )
