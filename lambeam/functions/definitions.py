"""Functions and their `$LATEST`: create, read, update, delete, and reserved concurrency.

Each write is one transaction on the function's row (locked for update), and a code bundle and
its installed requirements are in the artifact store before any row names them. Each records what
it changed in the audit log, in its own transaction (`lambeam audit ls`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
from lambeam.functions.handlers import check_handler
from lambeam.functions.records import FunctionInfo
from lambeam.functions.requirements import install_requirements
from lambeam.registry import get_model_version, parse_model_ref
from lambeam.runtime.logs import FileLogSink
from lambeam.storage import ArtifactStore, Database, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import FunctionAliasRow, FunctionRow, FunctionVersionRow

__all__ = [
    "create_function",
    "delete_function",
    "delete_function_concurrency",
    "deploy_latest",
    "get_function",
    "list_functions",
    "put_function_concurrency",
    "remove_function_files",
    "update_function_code",
    "update_function_configuration",
]

_log = logging.getLogger(__name__)
# Under a project's state folder: where invocations unpack bundles and installed requirements
# (lambeam.invoke.Invoker's default cache), and where FileLogSink keeps each function's log.
_CACHES = ("functions/code", "functions/requirements")
_LOGS = "logs"


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
    source = _prepare_source(
        db, store, name, config.kind, code, model, previous=None, handler=config.handler
    )
    with duplicate_is_conflict(exists), db.session() as session:
        if session.get(FunctionRow, name) is not None:
            raise FunctionConflictError(exists)
        now = utcnow()
        row = FunctionRow(
            name=name,
            kind=config.kind,
            config=stored_config(
                replace(config, requirements_sha256=source.requirements_sha256), name
            ),
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
        info = latest_info(row)
        record(session, "lambda:CreateFunction", f"function:{name}", _created(info))
        return info


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
    *,
    store: ArtifactStore | None = None,
) -> FunctionInfo:
    """Replace `$LATEST`'s configuration (all of it, reserved concurrency included).

    Start from `get_function(...).config` and `dataclasses.replace` what changes. A new handler
    of a code function is checked against its bundle, read from `store`.
    """
    return deploy_latest(db, store, name, config, None, None, expected_revision, keep_code=True)


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
    new_config = config is not None
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
        handler = (config or previous.config).handler
        source = _prepare_source(db, store, name, kind, code, model, previous, handler=handler)
    with db.session() as session:
        row = function_row(session, name, lock=True)
        check_revision(f"function {name!r}", row.revision_id, expected_revision)
        current = latest_info(row)
        config = current.config if config is None else config
        if source is None:
            config = replace(config, requirements_sha256=current.config.requirements_sha256)
            if (
                kind == "code"
                and config.handler is not None
                and config.handler != current.config.handler
                and current.code_sha256 is not None
            ):
                if store is None:
                    raise ValueError("changing a code function's handler needs the artifact store")
                check_handler(store.get_bytes(current.code_sha256), config.handler)
        else:
            config = replace(config, requirements_sha256=source.requirements_sha256)
            row.code_sha256 = source.code_sha256
            row.model_ref = source.model
        _check_warm_minimums(session, name, config.reserved_concurrency, config)
        row.config = stored_config(config, name)
        row.reserved_concurrency = config.reserved_concurrency
        row.revision_id = new_revision()
        row.updated_at = utcnow()
        session.flush()
        info = latest_info(row)
        _record_deploy(session, current, info, new_source=source is not None, new_config=new_config)
        return info


def delete_function(
    db: Database,
    name: str,
    qualifier: str | int | None = None,
    *,
    state_dir: Path | None = None,
) -> frozenset[str]:
    """Delete the function (all versions and aliases), or one published version (Lambda's rules);
    the code and requirements digests the deleted rows named.

    A version that an alias points at, or routes traffic to, is not deleted. With the project's
    `state_dir`, what the deleted rows left on disk goes too once the delete has committed. A
    server, whose instances may still run the code, passes none: it lets go of the instances,
    then calls `remove_function_files` with the digests returned.
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
            digests = _digests(session, name)
            versions = session.scalars(
                select(FunctionVersionRow.number)
                .where(FunctionVersionRow.function == name)
                .order_by(FunctionVersionRow.number)
            )
            aliases = session.scalars(
                select(FunctionAliasRow.name)
                .where(FunctionAliasRow.function == name)
                .order_by(FunctionAliasRow.name)
            )
            details = {"versions": list(versions), "aliases": list(aliases)}
            session.execute(delete(FunctionAliasRow).where(FunctionAliasRow.function == name))
            session.execute(delete(FunctionVersionRow).where(FunctionVersionRow.function == name))
            session.execute(delete(FunctionRow).where(FunctionRow.name == name))
            record(session, "lambda:DeleteFunction", f"function:{name}", details)
        else:
            digests = _delete_version(session, name, qualifier)
    if state_dir is not None:
        remove_function_files(db, state_dir, digests, logs_of=name if kind == "latest" else None)
    return frozenset(digests)


def _delete_version(session: Session, name: str, qualifier: str) -> set[str]:
    """Delete one published version (not one an alias uses); the digests its row named."""
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
    digests = _row_digests(version.code_sha256, version.config)
    session.delete(version)
    record(
        session,
        "lambda:DeleteFunction",
        f"function:{name}:{qualifier}",
        {"code_sha256": version.code_sha256, "model_version": version.model_version},
    )
    return digests


def remove_function_files(
    db: Database, state_dir: Path, digests: Iterable[str], logs_of: str | None = None
) -> list[Path]:
    """Remove the code and requirements caches of `digests` that no function or version names
    any more, and with `logs_of` (a deleted function's name) its log files; the paths removed.

    Caches are content-addressed, so a digest another function (or version) still uses is kept.
    Best effort, after the delete committed: what cannot be removed is logged, not raised.
    """
    state_dir = Path(state_dir)
    with db.session() as session:
        unused = set(digests) - _digests(session)
        remains = logs_of is not None and session.get(FunctionRow, logs_of) is not None
    targets = [state_dir / cache / digest for cache in _CACHES for digest in sorted(unused)]
    removed = [path for path in targets if path.is_dir() and _remove_tree(path)]
    if logs_of is not None and not remains:  # not if it was created again meanwhile
        with contextlib.suppress(OSError):  # its instances' /tmp folders are gone with them
            (state_dir / "tmp" / logs_of).rmdir()
        sink = FileLogSink(state_dir / _LOGS)
        for path in [*sink.rotated(logs_of), sink.path(logs_of)]:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                _log.warning("could not remove %s: %s", path, exc)
                continue
            removed.append(path)
    return removed


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
        previous, row.reserved_concurrency = row.reserved_concurrency, reserved
        session.flush()
        if reserved is None:
            action, details = "lambda:DeleteFunctionConcurrency", {"previous": previous}
        else:
            action = "lambda:PutFunctionConcurrency"
            details = {"reserved_concurrency": reserved, "previous": previous}
        record(session, action, f"function:{name}", details)
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
    *,
    handler: str | None,
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
    if handler is not None:
        check_handler(code, handler)  # defined by the bundle itself, never `os.system`
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


def _created(info: FunctionInfo) -> dict[str, Any]:
    """CreateFunction's audit details: what it runs and its settings, environment names only."""
    settings = info.config.to_dict()
    environment = sorted(settings.pop("environment"))
    details: dict[str, Any] = {"kind": info.kind, **_source(info), "config": settings}
    if environment:
        details["environment"] = environment
    details["revision_id"] = info.revision_id
    return details


def _record_deploy(
    session: Session,
    before: FunctionInfo,
    after: FunctionInfo,
    *,
    new_source: bool,
    new_config: bool,
) -> None:
    """UpdateFunctionCode and/or UpdateFunctionConfiguration, for what this deploy changed (or
    for what it was asked to do, when it changed nothing)."""
    resource = f"function:{after.name}"
    moved = _source(before) != _source(after)
    changes = _config_changes(before.config, after.config)
    if new_source and (moved or not new_config or not changes):
        details = {**_source(after), "previous": _source(before), "revision_id": after.revision_id}
        record(session, "lambda:UpdateFunctionCode", resource, details)
    if new_config and (changes or not new_source):
        record(
            session,
            "lambda:UpdateFunctionConfiguration",
            resource,
            {**changes, "revision_id": after.revision_id},
        )


def _source(info: FunctionInfo) -> dict[str, Any]:
    if info.kind == "model":
        return {"model": info.model}
    return {
        "code_sha256": info.code_sha256,
        "requirements_sha256": info.config.requirements_sha256,
    }


def _config_changes(before: FunctionConfig, after: FunctionConfig) -> dict[str, Any]:
    """{"changed": {key: [old, new]}, "environment": {"added"|"removed"|"changed": [names]}}:
    the values of plain settings, only the names of environment variables (values may be
    secrets). The requirements digest belongs to the code, not here."""
    old, new = before.to_dict(), after.to_dict()
    old_env, new_env = old.pop("environment"), new.pop("environment")
    for data in (old, new):
        data.pop("requirements_sha256")
    details: dict[str, Any] = {}
    changed = {key: [old.get(key), value] for key, value in new.items() if old.get(key) != value}
    if changed:
        details["changed"] = changed
    environment = {
        "added": sorted(set(new_env) - set(old_env)),
        "removed": sorted(set(old_env) - set(new_env)),
        "changed": sorted(k for k in set(old_env) & set(new_env) if old_env[k] != new_env[k]),
    }
    environment = {what: names for what, names in environment.items() if names}
    if environment:
        details["environment"] = environment
    return details


def _row_digests(code_sha256: str | None, config: dict[str, Any]) -> set[str]:
    """The cached bundles a function or version row names: its code and installed requirements."""
    return {d for d in (code_sha256, config.get("requirements_sha256")) if isinstance(d, str)}


def _digests(session: Session, name: str | None = None) -> set[str]:
    """Every digest function `name`'s `$LATEST` and versions name (any function's: None)."""
    latest = select(FunctionRow.code_sha256, FunctionRow.config)
    versions = select(FunctionVersionRow.code_sha256, FunctionVersionRow.config)
    if name is not None:
        latest = latest.where(FunctionRow.name == name)
        versions = versions.where(FunctionVersionRow.function == name)
    found: set[str] = set()
    for code, config in [*session.execute(latest), *session.execute(versions)]:
        found |= _row_digests(code, config)
    return found


def _remove_tree(path: Path) -> bool:
    """Remove a cache folder: renamed aside first, so that an invocation unpacking the same
    digest meanwhile finds it whole or absent, never half removed."""
    aside = path.with_name(f".{path.name[:12]}-removed-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    except OSError as exc:
        _log.warning("could not remove %s: %s", path, exc)
        return False
    # A read-only cache folder (kept so against handlers) is made writable to be emptied.
    for folder, _dirs, _files in os.walk(aside):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)
    try:
        shutil.rmtree(aside)
    except OSError as exc:
        _log.warning("could not remove %s (moved aside from %s): %s", aside, path, exc)
    return True
