"""Aliases: the mutable names (`prod`, `staging`) that point at one version of a model.

Every set, move and removal writes an `alias_events` row (the model's own history) and an entry
of the project's audit log in the same transaction as the change, so neither can disagree with
the aliases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import AliasNotFoundError, ModelNotFoundError
from lambeam.registry.refs import check_alias_name
from lambeam.registry.versions import require_model
from lambeam.storage import Database, current_user, utcnow
from lambeam.storage.audit import record
from lambeam.storage.database import as_utc
from lambeam.storage.schema import AliasEvent, ModelAliasRow, ModelVersionRow

__all__ = ["alias_history", "remove_alias", "set_alias"]


def set_alias(db: Database, model: str, alias: str, version: int, by: str | None = None) -> None:
    """Point `model@alias` at version `version` (creating or moving the alias), audited.

    Setting an alias to the version it already points at changes nothing and records nothing.
    """
    check_alias_name(alias)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelNotFoundError(f"model {model!r} has no version {version!r}")
    by = by or current_user()
    with db.session() as session:
        require_model(session, model)
        exists = session.scalar(
            select(ModelVersionRow.id).where(
                ModelVersionRow.model == model, ModelVersionRow.number == version
            )
        )
        if exists is None:
            raise ModelNotFoundError(f"model {model!r} has no version {version}")
        current = _locked_alias(session, model, alias)
        now = utcnow()
        if current is None:
            session.add(
                ModelAliasRow(
                    model=model, alias=alias, version=version, updated_at=now, updated_by=by
                )
            )
            previous = None
        elif current.version == version:
            return
        else:
            previous = current.version
            current.version, current.updated_at, current.updated_by = version, now, by
        session.add(
            AliasEvent(
                model=model, alias=alias, from_version=previous, to_version=version, at=now, by=by
            )
        )
        session.flush()
        details = {"from_version": previous, "to_version": version}
        record(session, "models:SetAlias", f"model:{model}@{alias}", details)


def remove_alias(db: Database, model: str, alias: str, by: str | None = None) -> None:
    """Delete `model@alias`, audited; AliasNotFoundError if there is no such alias."""
    check_alias_name(alias)
    by = by or current_user()
    with db.session() as session:
        require_model(session, model)
        current = _locked_alias(session, model, alias)
        if current is None:
            raise AliasNotFoundError(f"model {model!r} has no alias {alias!r}")
        session.add(
            AliasEvent(
                model=model,
                alias=alias,
                from_version=current.version,
                to_version=None,
                at=utcnow(),
                by=by,
            )
        )
        session.delete(current)
        session.flush()
        details = {"from_version": current.version, "to_version": None}
        record(session, "models:DeleteAlias", f"model:{model}@{alias}", details)


def alias_history(db: Database, model: str) -> list[dict[str, Any]]:
    """Every alias change of `model`, oldest first: alias, from_version, to_version, at, by.

    A set has from_version None, a removal to_version None; `at` is an ISO 8601 UTC string.
    """
    with db.session() as session:
        require_model(session, model)
        events = list(
            session.scalars(
                select(AliasEvent).where(AliasEvent.model == model).order_by(AliasEvent.id)
            )
        )
    return [
        {
            "alias": event.alias,
            "from_version": event.from_version,
            "to_version": event.to_version,
            "at": as_utc(event.at).isoformat(),
            "by": event.by,
        }
        for event in events
    ]


def _locked_alias(session: Session, model: str, alias: str) -> ModelAliasRow | None:
    # FOR UPDATE on PostgreSQL so two concurrent moves record each other's from_version
    # correctly; SQLite ignores it and serializes writers anyway.
    return session.scalars(
        select(ModelAliasRow)
        .where(ModelAliasRow.model == model, ModelAliasRow.alias == alias)
        .with_for_update()
    ).first()
