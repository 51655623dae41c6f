"""Finding function rows and turning them into records: shared by the service's modules.

Environment variable values are sealed in the stored config (lambeam.storage.sealing): the names
stay readable, each value is encrypted under the project's master key, bound to its function and
name. Rows written before sealing hold plain values; they still read, and are sealed when next
written.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lambeam.errors import StorageError
from lambeam.functions.config import LATEST, FunctionConfig, check_alias_name, check_function_name
from lambeam.functions.errors import (
    FunctionConflictError,
    FunctionNotFoundError,
    PreconditionFailedError,
)
from lambeam.functions.records import AliasInfo, FunctionInfo
from lambeam.storage.database import as_utc
from lambeam.storage.schema import FunctionAliasRow, FunctionRow, FunctionVersionRow
from lambeam.storage.sealing import current_sealing, is_sealed_text

__all__ = [
    "alias_info",
    "alias_row",
    "check_revision",
    "config_of",
    "duplicate_is_conflict",
    "function_row",
    "latest_info",
    "new_revision",
    "qualifier_kind",
    "stored_config",
    "version_info",
    "version_row",
]

_NUMBER = re.compile(r"[1-9][0-9]{0,9}")


def new_revision() -> str:
    """A fresh RevisionId: a UUID, as Lambda's are."""
    return str(uuid.uuid4())


def qualifier_kind(function: str, qualifier: str | int | None) -> tuple[str, str]:
    """("latest" | "version" | "alias", normalised qualifier) for a Lambda qualifier."""
    if qualifier is None or qualifier == LATEST:
        return "latest", LATEST
    if isinstance(qualifier, int) and not isinstance(qualifier, bool):
        qualifier = str(qualifier)
    if isinstance(qualifier, str) and _NUMBER.fullmatch(qualifier):
        return "version", qualifier
    return "alias", check_alias_name(function, qualifier)


@contextmanager
def duplicate_is_conflict(message: str) -> Iterator[None]:
    """Turn a unique-key violation (a concurrent create won the race) into a conflict error."""
    try:
        yield
    except StorageError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            raise FunctionConflictError(message) from None
        raise


def function_row(session: Session, name: str, *, lock: bool = False) -> FunctionRow:
    """The function's row (locked for update when `lock`), or FunctionNotFoundError."""
    check_function_name(name)
    query = select(FunctionRow).where(FunctionRow.name == name)
    if lock:
        query = query.with_for_update()
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no FOR UPDATE: a no-op write takes the database's write lock now, so
            # that what this transaction reads next cannot change before it commits.
            session.execute(
                update(FunctionRow)
                .where(FunctionRow.name == name)
                .values(revision_id=FunctionRow.revision_id)
            )
    row = session.scalars(query).first()
    if row is None:
        raise FunctionNotFoundError(f"Function not found: {name}")
    return row


def version_row(session: Session, name: str, number: str | int) -> FunctionVersionRow:
    """A published version's row, or FunctionNotFoundError naming `name:number`."""
    row = session.scalars(
        select(FunctionVersionRow).where(
            FunctionVersionRow.function == name, FunctionVersionRow.number == int(number)
        )
    ).first()
    if row is None:
        raise FunctionNotFoundError(f"Function not found: {name}:{number} (no such version)")
    return row


def alias_row(session: Session, name: str, alias: str, *, lock: bool = False) -> FunctionAliasRow:
    """An alias's row, or FunctionNotFoundError naming `name:alias`."""
    query = select(FunctionAliasRow).where(
        FunctionAliasRow.function == name, FunctionAliasRow.name == alias
    )
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise FunctionNotFoundError(f"Alias not found: {name}:{alias}")
    return row


def check_revision(what: str, current: str, expected: str | None) -> None:
    """Refuse a change made against a stale RevisionId (Lambda's optimistic locking)."""
    if expected is not None and expected != current:
        raise PreconditionFailedError(
            f"{what}: the RevisionId you gave ({expected}) is not the current one ({current});"
            " get the resource again and retry"
        )


def stored_config(config: FunctionConfig, function: str | None = None) -> dict[str, Any]:
    """A config as kept in a row: reserved concurrency lives in its own column, function-wide;
    environment values sealed (bound to `function` when given). Call inside `db.session()`."""
    data = config.to_dict()
    data.pop("reserved_concurrency")
    if data["environment"]:
        sealing = current_sealing()
        data["environment"] = {
            key: sealing.seal_text(value, _env_context(function, key))
            for key, value in data["environment"].items()
        }
    return data


def config_of(data: dict[str, Any], reserved: int | None, name: str) -> FunctionConfig:
    """The config a row keeps (see `stored_config`), environment values opened."""
    environment = data.get("environment")
    if environment and any(is_sealed_text(value) for value in environment.values()):
        data = {**data, "environment": _opened(environment, name)}
    return FunctionConfig.from_dict({**data, "reserved_concurrency": reserved}, function=name)


def _env_context(function: str | None, key: str) -> str:
    # Where a value may be opened: this function's variable `key` (any function's when a caller
    # sealed it without naming the function).
    return f"functions.environment:{function or ''}:{key}"


def _opened(environment: dict[str, Any], name: str) -> dict[str, Any]:
    sealing = current_sealing()
    opened = {}
    for key, value in environment.items():
        if not is_sealed_text(value):
            opened[key] = value  # written before sealing
            continue
        what = f"environment variable {key} of function {name!r}"
        try:
            opened[key] = sealing.open_text(value, _env_context(name, key), what)
        except StorageError:
            opened[key] = sealing.open_text(value, _env_context(None, key), what)
    return opened


def latest_info(row: FunctionRow) -> FunctionInfo:
    config = config_of(row.config, row.reserved_concurrency, row.name)
    return FunctionInfo(
        name=row.name,
        version=LATEST,
        config=config,
        code_sha256=row.code_sha256,
        model=row.model_ref,
        revision_id=row.revision_id,
        description=config.description,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def version_info(function: FunctionRow, row: FunctionVersionRow) -> FunctionInfo:
    return FunctionInfo(
        name=row.function,
        version=str(row.number),
        config=config_of(row.config, function.reserved_concurrency, row.function),
        code_sha256=row.code_sha256,
        model=row.model_version,
        revision_id=None,
        description=row.description,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.created_at),
    )


def alias_info(row: FunctionAliasRow) -> AliasInfo:
    return AliasInfo(
        function=row.function,
        name=row.name,
        version=row.version,
        routing=dict(row.routing) if row.routing else None,
        description=row.description,
        revision_id=row.revision_id,
        updated_at=as_utc(row.updated_at),
    )
