"""Functions and their `$LATEST`: create, read, update, delete, and reserved concurrency.

Each write is one transaction on the function's row (locked for update), and a code bundle and
its installed requirements are in the artifact store before any row names them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.functions._rows import (
    alias_row,
    check_revision,
    duplicate_is_conflict,
    function_row,
    latest_info,
    new_revision,
    qualifier_kind,
    stored_config,
    version_info,
    version_row,
)
from lambeam.functions.bundles import CodeBundle
from lambeam.functions.config import LATEST, FunctionConfig, check_function_name
from lambeam.functions.errors import FunctionConflictError
from lambeam.functions.records import FunctionInfo
from lambeam.functions.requirements import install_requirements
from lambeam.registry import get_model_version, parse_model_ref
from lambeam.storage import ArtifactStore, Database, utcnow
from lambeam.storage.schema import FunctionAliasRow, FunctionRow, FunctionVersionRow

__all__ = [
    "create_function",
    "delete_function",
    "delete_function_concurrency",
    "deploy_latest",
    "get_function",
    "list_functions",
    "put_function_concurrency",
    "update_function_code",
    "update_function_configuration",
]


@dataclass(frozen=True)
class _Source:
    """What a function runs, ready to be written: a stored bundle or a checked model reference."""

    code_sha256: str | None
    model: str | None
    requirements_sha256: str | None


def create_function(
    db: Database,
    store: ArtifactStore,
    name: str,
    config: FunctionConfig,
    code: CodeBundle | None = None,
    model: str | None = None,
) -> FunctionInfo:
    """Create function `name` (Lambda's CreateFunction): a code bundle, or a model reference."""
    check_function_name(name)
    exists = f"Function already exist: {name}"
    with db.session() as session:
        if session.get(FunctionRow, name) is not None:
            raise FunctionConflictError(exists)  # before any bundle is stored or pip is run
    source = _prepare_source(db, store, name, config.kind, code, model, previous=None)
    with duplicate_is_conflict(exists), db.session() as session:
        if session.get(FunctionRow, name) is not None:
            raise FunctionConflictError(exists)
        now = utcnow()
        row = FunctionRow(
            name=name,
            kind=config.kind,
            config=stored_config(replace(config, requirements_sha256=source.requirements_sha256)),
            code_sha256=source.code_sha256,
            model_ref=source.model,
            reserved_concurrency=config.reserved_concurrency,
            revision_id=new_revision(),
            created_at=now,
            updated_at=now,
            last_version=0,
        )
        session.add(row)
        session.flush()
        return latest_info(row)


def get_function(db: Database, name: str, qualifier: str | int | None = None) -> FunctionInfo:
    """`$LATEST`, a published version, or the version an alias points at (Lambda's GetFunction)."""
    kind, qualifier = qualifier_kind(name, qualifier)
    with db.session() as session:
        function = function_row(session, name)
        if kind == "latest":
            return latest_info(function)
        if kind == "alias":
            qualifier = alias_row(session, name, qualifier).version
            if qualifier_kind(name, qualifier)[0] == "latest":
                return latest_info(function)
        return version_info(function, version_row(session, name, qualifier))


def list_functions(db: Database) -> list[FunctionInfo]:
    """Every function's `$LATEST`, by name."""
    with db.session() as session:
        rows = session.scalars(select(FunctionRow).order_by(FunctionRow.name))
        return [latest_info(row) for row in rows]


def update_function_code(
    db: Database,
    store: ArtifactStore,
    name: str,
    code: CodeBundle | None = None,
    model: str | None = None,
    expected_revision: str | None = None,
) -> FunctionInfo:
    """Replace `$LATEST`'s code bundle (code functions) or model reference (model functions)."""
    return deploy_latest(db, store, name, None, code, model, expected_revision)


def update_function_configuration(
    db: Database,
    name: str,
    config: FunctionConfig,
    expected_revision: str | None = None,
) -> FunctionInfo:
    """Replace `$LATEST`'s configuration (all of it, reserved concurrency included).

    Start from `get_function(...).config` and `dataclasses.replace` what changes.
    """
    return deploy_latest(db, None, name, config, None, None, expected_revision, keep_code=True)


def deploy_latest(
    db: Database,
    store: ArtifactStore | None,
    name: str,
    config: FunctionConfig | None,
    code: CodeBundle | None,
    model: str | None,
    expected_revision: str | None = None,
    *,
    keep_code: bool = False,
) -> FunctionInfo:
    """Write `$LATEST`'s configuration and/or source in one transaction, with a new RevisionId.

    `config=None` keeps the configuration; `keep_code` keeps the bundle (or model reference) and
    its installed requirements. What is kept is read inside the locked transaction, so a
    concurrent change to the other half is never undone.
    """
    with db.session() as session:
        previous = latest_info(function_row(session, name))
    kind = previous.kind if config is None else config.kind
    if kind != previous.kind:
        raise ConfigError(
            f"function {name!r}: it is a {previous.kind} function and cannot become a"
            f" {kind} function; delete it and create it again"
        )
    source = None
    if not keep_code:
        if store is None:
            raise ValueError("deploying code needs the artifact store")
        source = _prepare_source(db, store, name, kind, code, model, previous)
    with db.session() as session:
        row = function_row(session, name, lock=True)
        check_revision(f"function {name!r}", row.revision_id, expected_revision)
        current = latest_info(row)
        config = current.config if config is None else config
        if source is None:
            config = replace(config, requirements_sha256=current.config.requirements_sha256)
        else:
            config = replace(config, requirements_sha256=source.requirements_sha256)
            row.code_sha256 = source.code_sha256
            row.model_ref = source.model
        _check_warm_minimums(session, name, config.reserved_concurrency, config)
        row.config = stored_config(config)
        row.reserved_concurrency = config.reserved_concurrency
        row.revision_id = new_revision()
        row.updated_at = utcnow()
        session.flush()
        return latest_info(row)


def delete_function(db: Database, name: str, qualifier: str | int | None = None) -> None:
    """Delete the function (all versions and aliases), or one published version (Lambda's rules).

    A version that an alias points at, or routes traffic to, is not deleted.
    """
    if qualifier == LATEST:
        raise ConfigError(
            f"function {name!r}: $LATEST cannot be deleted on its own; delete the function"
        )
    kind, qualifier = qualifier_kind(name, qualifier)
    with db.session() as session:
        function_row(session, name, lock=True)
        if kind == "alias":
            raise ConfigError(
                f"function {name!r}: {qualifier!r} is an alias; delete it with delete_alias"
            )
        if kind == "latest":
            session.execute(delete(FunctionAliasRow).where(FunctionAliasRow.function == name))
            session.execute(delete(FunctionVersionRow).where(FunctionVersionRow.function == name))
            session.execute(delete(FunctionRow).where(FunctionRow.name == name))
            return
        version = version_row(session, name, qualifier)
        users = [
            alias.name
            for alias in session.scalars(
                select(FunctionAliasRow).where(FunctionAliasRow.function == name)
            )
            if qualifier in (alias.version, (alias.routing or {}).get("additional_version"))
        ]
        if users:
            raise FunctionConflictError(
                f"Unable to delete version {qualifier} of function {name!r}: alias"
                f" {', '.join(sorted(users))} still uses it"
            )
        session.delete(version)


def put_function_concurrency(db: Database, name: str, reserved: int) -> FunctionInfo:
    """Reserve `reserved` concurrent instances for the function (0 stops all invocations).

    Function-wide, like Lambda's: it applies to `$LATEST` and every version, and does not change
    the RevisionId.
    """
    if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 0:
        raise ConfigError(
            f"function {name!r}: reserved_concurrency must be an integer of at least 0,"
            f" got {reserved!r}"
        )
    return _set_concurrency(db, name, reserved)


def delete_function_concurrency(db: Database, name: str) -> FunctionInfo:
    """Remove the function's reserved concurrency (unlimited, within the server's own)."""
    return _set_concurrency(db, name, None)


def _set_concurrency(db: Database, name: str, reserved: int | None) -> FunctionInfo:
    with db.session() as session:
        row = function_row(session, name, lock=True)
        _check_warm_minimums(session, name, reserved, None)
        row.reserved_concurrency = reserved
        session.flush()
        return latest_info(row)


def _check_warm_minimums(
    session: Session, name: str, reserved: int | None, latest: FunctionConfig | None
) -> None:
    """Every version's warm minimum must fit in the function-wide reserved concurrency."""
    if reserved is None:
        return
    configs = [latest.to_dict() if latest else function_row(session, name).config]
    configs += session.scalars(
        select(FunctionVersionRow.config).where(FunctionVersionRow.function == name)
    )
    highest = max(int(c.get("warm_minimum", 0)) for c in configs)
    if highest > reserved:
        raise ConfigError(
            f"function {name!r}: reserved_concurrency {reserved} is below a warm_minimum of"
            f" {highest}; lower the warm minimum first"
        )


def _prepare_source(
    db: Database,
    store: ArtifactStore,
    name: str,
    kind: str,
    code: CodeBundle | None,
    model: str | None,
    previous: FunctionInfo | None,
) -> _Source:
    if kind == "model":
        if code is not None or model is None:
            raise ConfigError(
                f"function {name!r}: a model function takes a model reference and no code"
            )
        try:
            ref = str(parse_model_ref(model))
        except ConfigError as exc:
            raise ConfigError(f"function {name!r}: model: {exc}") from None
        get_model_version(db, store, ref)  # it must exist now; $LATEST re-resolves it per invoke
        return _Source(None, ref, None)
    if model is not None or code is None:
        raise ConfigError(f"function {name!r}: a code function takes a code bundle and no model")
    kept = previous.config.requirements_sha256 if previous is not None else None
    if (
        previous is not None
        and previous.code_sha256 == code.sha256
        and kept is not None
        and store.exists(kept)
    ):
        requirements: str | None = kept  # the same code: its requirements are installed already
    else:
        # Installed first: a failing install leaves nothing behind, not even in the store.
        installed = install_requirements(name, code)
        requirements = store.put_bytes(installed) if installed is not None else None
    return _Source(store.put_bytes(code.data), None, requirements)
