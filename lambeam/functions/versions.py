"""Published versions: immutable snapshots of `$LATEST`, numbered 1, 2, … and never reused.

A model function's version pins the model version it serves: `churn@prod` is resolved through the
registry when publishing, and the version records `churn:7`.
"""

from __future__ import annotations

from sqlalchemy import select

from lambeam.errors import ConfigError
from lambeam.functions._rows import (
    check_revision,
    function_row,
    latest_info,
    stored_config,
    version_info,
)
from lambeam.functions.config import DESCRIPTION_LIMIT
from lambeam.functions.errors import PreconditionFailedError
from lambeam.functions.records import FunctionInfo
from lambeam.registry import get_model_version
from lambeam.storage import ArtifactStore, Database, current_user, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import FunctionVersionRow

__all__ = ["list_versions", "publish_version"]


def publish_version(
    db: Database,
    store: ArtifactStore,
    name: str,
    description: str = "",
    expected_revision: str | None = None,
) -> FunctionInfo:
    """Publish `$LATEST` as the next version (Lambda's PublishVersion).

    When nothing changed since the newest version (configuration, code, and for a model function
    the model version its reference resolves to now), that version is returned instead.
    """
    if not isinstance(description, str) or len(description) > DESCRIPTION_LIMIT:
        raise ConfigError(
            f"function {name!r}: description must be a string of at most {DESCRIPTION_LIMIT}"
            " characters"
        )
    with db.session() as session:
        latest = latest_info(function_row(session, name))
    pinned = None
    if latest.model is not None:
        pinned = get_model_version(db, store, latest.model).ref
    with db.session() as session:
        row = function_row(session, name, lock=True)
        check_revision(f"function {name!r}", row.revision_id, expected_revision)
        if row.model_ref != latest.model:
            raise PreconditionFailedError(
                f"function {name!r}: its model changed while publishing; publish again"
            )
        config = stored_config(latest_info(row).config, name)
        newest = session.scalars(
            select(FunctionVersionRow)
            .where(FunctionVersionRow.function == name)
            .order_by(FunctionVersionRow.number.desc())
            .limit(1)
        ).first()
        if (
            newest is not None
            and newest.config == config
            and newest.code_sha256 == row.code_sha256
            and newest.model_version == pinned
        ):
            return version_info(row, newest)
        # Rows from before migration 0004 start at 0, under the versions they already have.
        row.last_version = max(row.last_version or 0, newest.number if newest else 0) + 1
        version = FunctionVersionRow(
            function=name,
            number=row.last_version,
            config=config,
            code_sha256=row.code_sha256,
            model_version=pinned,
            description=description or config.get("description", ""),
            created_at=utcnow(),
            created_by=current_user(),
        )
        session.add(version)
        session.flush()
        info = version_info(row, version)
        details = {
            "code_sha256": version.code_sha256,
            "requirements_sha256": info.config.requirements_sha256,
            "model_version": pinned,
            "from_revision_id": row.revision_id,
        }
        if latest.model is not None:
            details["model"] = latest.model
            del details["code_sha256"], details["requirements_sha256"]
        record(session, "lambda:PublishVersion", f"function:{name}:{version.number}", details)
        return info


def list_versions(db: Database, name: str) -> list[FunctionInfo]:
    """`$LATEST`, then every published version, oldest first (Lambda's ListVersionsByFunction)."""
    with db.session() as session:
        row = function_row(session, name)
        versions = session.scalars(
            select(FunctionVersionRow)
            .where(FunctionVersionRow.function == name)
            .order_by(FunctionVersionRow.number)
        )
        return [latest_info(row), *(version_info(row, v) for v in versions)]
