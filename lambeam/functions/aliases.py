"""Function aliases: mutable names for a version, optionally splitting traffic with a second one.

Routing is Lambda's weighted alias: `{"additional_version": "3", "weight": 0.1}` sends about a
tenth of invocations to version 3 and the rest to the alias's own version. Both must be published
versions, and different.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.functions._rows import (
    alias_info,
    alias_row,
    check_revision,
    duplicate_is_conflict,
    function_row,
    new_revision,
    qualifier_kind,
    version_row,
)
from lambeam.functions.config import DESCRIPTION_LIMIT, LATEST, check_alias_name
from lambeam.functions.errors import FunctionConflictError
from lambeam.functions.records import AliasInfo
from lambeam.storage import Database, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import FunctionAliasRow

__all__ = ["create_alias", "delete_alias", "get_alias", "list_aliases", "update_alias"]


def create_alias(
    db: Database,
    name: str,
    alias: str,
    version: str | int,
    routing: Mapping[str, Any] | None = None,
    description: str = "",
) -> AliasInfo:
    """Create `name:alias` pointing at `version` (a published number or `$LATEST`)."""
    check_alias_name(name, alias)
    _check_description(name, alias, description)
    exists = f"Alias already exists: {name}:{alias}"
    with duplicate_is_conflict(exists), db.session() as session:
        function_row(session, name, lock=True)
        if session.get(FunctionAliasRow, (name, alias)) is not None:
            raise FunctionConflictError(exists)
        target = _target(session, name, alias, version)
        row = FunctionAliasRow(
            function=name,
            name=alias,
            version=target,
            routing=_routing(session, name, alias, target, routing),
            description=description,
            revision_id=new_revision(),
            updated_at=utcnow(),
        )
        session.add(row)
        session.flush()
        details = {"version": row.version, "routing": row.routing}
        record(session, "lambda:CreateAlias", f"function:{name}:{alias}", details)
        return alias_info(row)


def get_alias(db: Database, name: str, alias: str) -> AliasInfo:
    """The alias `name:alias`, or FunctionNotFoundError."""
    check_alias_name(name, alias)
    with db.session() as session:
        function_row(session, name)
        return alias_info(alias_row(session, name, alias))


def list_aliases(db: Database, name: str) -> list[AliasInfo]:
    """The function's aliases, by name."""
    with db.session() as session:
        function_row(session, name)
        rows = session.scalars(
            select(FunctionAliasRow)
            .where(FunctionAliasRow.function == name)
            .order_by(FunctionAliasRow.name)
        )
        return [alias_info(row) for row in rows]


def update_alias(
    db: Database,
    name: str,
    alias: str,
    version: str | int | None = None,
    routing: Mapping[str, Any] | None = None,
    description: str | None = None,
    expected_revision: str | None = None,
) -> AliasInfo:
    """Move the alias and/or change its routing or description (None keeps; `routing={}` clears)."""
    check_alias_name(name, alias)
    if description is not None:
        _check_description(name, alias, description)
    with db.session() as session:
        function_row(session, name, lock=True)
        row = alias_row(session, name, alias, lock=True)
        check_revision(f"alias {name}:{alias}", row.revision_id, expected_revision)
        target = row.version if version is None else _target(session, name, alias, version)
        if routing is None and row.routing:
            routing = row.routing
        before = {"version": row.version, "routing": row.routing, "description": row.description}
        row.routing = _routing(session, name, alias, target, routing)
        row.version = target
        if description is not None:
            row.description = description
        row.revision_id = new_revision()
        row.updated_at = utcnow()
        session.flush()
        after = {"version": row.version, "routing": row.routing, "description": row.description}
        # Each changed field as [old, new]: a move of prod from 2 to 3 is "version": ["2", "3"].
        details = {
            key: [before[key], value] for key, value in after.items() if before[key] != value
        }
        record(session, "lambda:UpdateAlias", f"function:{name}:{alias}", details)
        return alias_info(row)


def delete_alias(db: Database, name: str, alias: str) -> None:
    """Delete the alias `name:alias`; the versions it pointed at stay."""
    check_alias_name(name, alias)
    with db.session() as session:
        function_row(session, name, lock=True)
        row = alias_row(session, name, alias)
        session.delete(row)
        details = {"version": row.version, "routing": row.routing}
        record(session, "lambda:DeleteAlias", f"function:{name}:{alias}", details)


def _check_description(name: str, alias: str, description: object) -> None:
    if not isinstance(description, str) or len(description) > DESCRIPTION_LIMIT:
        raise ConfigError(
            f"alias {name}:{alias}: description must be a string of at most"
            f" {DESCRIPTION_LIMIT} characters"
        )


def _target(session: Session, name: str, alias: str, version: object) -> str:
    """A version an alias may point at: `$LATEST` or a published number that exists."""
    if not isinstance(version, (str, int)) or isinstance(version, bool):
        raise ConfigError(f"alias {name}:{alias}: version must be a number or $LATEST")
    try:
        kind, target = qualifier_kind(name, version)
    except ConfigError:
        kind = "alias"
    if kind == "alias":
        raise ConfigError(
            f"alias {name}:{alias}: version must be a published version number or $LATEST,"
            f" got {version!r}"
        )
    if kind == "version":
        version_row(session, name, target)
    return target


def _routing(
    session: Session, name: str, alias: str, target: str, routing: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """A checked routing config, or None for none."""
    if not routing:
        return None
    what = f"alias {name}:{alias}: routing"
    if not isinstance(routing, Mapping):
        raise ConfigError(f"{what} must be a table of additional_version and weight")
    unknown = sorted(set(routing) - {"additional_version", "weight"})
    if unknown:
        raise ConfigError(f"{what} has unknown key {unknown[0]!r}")
    if "additional_version" not in routing or "weight" not in routing:
        raise ConfigError(f"{what} needs both additional_version and weight")
    weight = routing["weight"]
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not 0.0 <= weight <= 1.0  # before isfinite: a huge integer overflows a float
        or not math.isfinite(weight)
    ):
        shown = weight if not isinstance(weight, int) or abs(weight) < 10**20 else "a huge integer"
        raise ConfigError(f"{what}.weight must be a number from 0.0 to 1.0, got {shown!r}")
    if target == LATEST:
        raise ConfigError(f"{what}: an alias that routes traffic must point at a published version")
    additional = routing["additional_version"]
    kind = "unusable"
    if isinstance(additional, (str, int)) and not isinstance(additional, bool):
        with contextlib.suppress(ConfigError):
            kind, additional = qualifier_kind(name, additional)
    if kind != "version":
        raise ConfigError(
            f"{what}.additional_version must be a published version number, got {additional!r}"
        )
    if additional == target:
        raise ConfigError(
            f"{what}.additional_version must differ from the alias's version ({target})"
        )
    version_row(session, name, additional)
    return {"additional_version": additional, "weight": float(weight)}
