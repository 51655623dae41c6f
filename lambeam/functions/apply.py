"""`lambeam apply` for functions: make each `[functions.NAME]` of lambeam.toml true in `$LATEST`.

    [functions.churn-api]
    model = "churn@prod"
    memory = 1024
    batching = { max_batch_size = 32, max_wait_ms = 5 }

    [functions.hello]
    code = "functions/hello"        # a directory or a .zip, relative to the project root
    handler = "app.handler"
    timeout = 10
    environment = { GREETING = "hi" }

A function whose declaration and code match `$LATEST` is left alone (its RevisionId does not
change, and its requirements are not installed again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambeam.errors import AliasNotFoundError, ConfigError, ModelNotFoundError
from lambeam.functions.bundles import CodeBundle
from lambeam.functions.config import FunctionConfig, batching_from, check_function_name
from lambeam.functions.definitions import (
    create_function,
    deploy_latest,
    get_function,
    list_functions,
)
from lambeam.functions.errors import CodeBundleError, FunctionNotFoundError
from lambeam.functions.handlers import check_handler
from lambeam.functions.records import FunctionInfo
from lambeam.project import Project
from lambeam.registry import parse_model_ref

__all__ = ["ApplyResult", "Declaration", "apply", "declared_function"]

# lambeam.toml's spelling → FunctionConfig's field.
_FIELDS = {
    "handler": "handler",
    "memory": "memory_mb",
    "timeout": "timeout_s",
    "reserved_concurrency": "reserved_concurrency",
    "warm_minimum": "warm_minimum",
    "batching": "batching",
    "environment": "environment",
    "description": "description",
}
_SOURCES = ("code", "model")
# Declared here, applied by the events service (lambeam.events.declarations): its triggers
# (`events = [...]`) and its asynchronous-invocation settings (`[functions.NAME.async]`).
EVENT_KEYS = ("events", "async")


@dataclass(frozen=True)
class Declaration:
    """One `[functions.NAME]` table, checked: its configuration and what it runs."""

    name: str
    config: FunctionConfig
    code: Path | None  # absolute: a directory or a .zip
    model: str | None

    def bundle(self) -> CodeBundle | None:
        return None if self.code is None else CodeBundle.from_path(self.code)


@dataclass(frozen=True)
class ApplyResult:
    """What `apply` did to one function: "created", "updated" or "unchanged"; "undeclared" for
    a deployed function that lambeam.toml does not declare (left as it is)."""

    name: str
    action: str
    function: FunctionInfo

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "function": self.function.to_dict()}


def declared_function(name: str, table: Mapping[str, Any], root: Path) -> Declaration:
    """Check one `[functions.NAME]` table; every error names the function and the key."""
    where = f"[functions.{name}]"
    try:
        check_function_name(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    unknown = sorted(set(table) - set(_FIELDS) - set(_SOURCES) - set(EVENT_KEYS))
    if unknown:
        known = ", ".join(sorted([*_FIELDS, *_SOURCES, *EVENT_KEYS]))
        raise ConfigError(f"{where} has unknown key {unknown[0]!r}; expected one of {known}")
    sources = [key for key in _SOURCES if key in table]
    if len(sources) != 1:
        raise ConfigError(f'{where} needs exactly one of code = "DIR" or model = "NAME@ALIAS"')
    source = table[sources[0]]
    if not isinstance(source, str) or not source:
        raise ConfigError(f"{where} {sources[0]} must be a non-empty string")
    values: dict[str, Any] = {"kind": sources[0]}
    for key, field in _FIELDS.items():
        if key in table:
            values[field] = table[key]
    # The dead-letter queue is part of the function's configuration (Lambda's DeadLetterConfig)
    # though lambeam.toml declares it with the other asynchronous settings.
    settings = table.get("async")
    if isinstance(settings, Mapping) and "dead_letter_queue" in settings:
        values["dead_letter_target"] = settings["dead_letter_queue"]
    try:
        if "batching" in values:
            values["batching"] = batching_from(values["batching"])
        config = FunctionConfig(**values)
    except ConfigError as exc:
        # Speak lambeam.toml's spelling of the two fields whose names differ there.
        message = str(exc).replace("memory_mb", "memory").replace("timeout_s", "timeout")
        message = message.replace("dead_letter_target", "async.dead_letter_queue")
        raise ConfigError(f"{where}: {message}") from None
    if sources[0] == "model":
        try:
            # Normalised (`churn:07` is `churn:7`) so that comparing with $LATEST is exact.
            return Declaration(name, config, None, str(parse_model_ref(source)))
        except ConfigError as exc:
            raise ConfigError(f"{where} model: {exc}") from None
    path = Path(source)
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise ConfigError(f"{where} code = {source!r}: {path} does not exist")
    return Declaration(name, config, path, None)


def apply(project: Project, names: Iterable[str] | None = None) -> list[ApplyResult]:
    """Create or update `$LATEST` of each declared function (or only `names`), in order of name."""
    declared = project.settings.functions
    chosen = sorted(declared) if names is None else list(names)
    for name in chosen:
        if name not in declared:
            raise ConfigError(f"{project.settings.config_path} has no [functions.{name}]")
    declarations = [
        declared_function(name, declared[name], project.settings.root) for name in chosen
    ]
    results = []
    for declaration in declarations:
        try:
            results.append(_apply_one(project, declaration))
        except (ModelNotFoundError, AliasNotFoundError) as exc:  # name the declaration
            where = _where(project, declaration.name)
            raise type(exc)(f"{where} model = {declaration.model!r}: {exc}") from None
    if names is None:
        # Deployed but not declared (removed from lambeam.toml, or made through the API):
        # named, never deleted, since lambeam.toml is not the only way functions are made.
        results += [
            ApplyResult(info.name, "undeclared", info)
            for info in list_functions(project.db)
            if info.name not in declared
        ]
    return results


def _apply_one(project: Project, declaration: Declaration) -> ApplyResult:
    db, store, name = project.db, project.store, declaration.name
    bundle = declaration.bundle()
    handler = declaration.config.handler
    if bundle is not None and handler is not None:
        try:
            check_handler(bundle, handler)
        except CodeBundleError as exc:
            raise CodeBundleError(f"{_where(project, name)} handler = {handler!r}: {exc}") from None
    try:
        current = get_function(db, name)
    except FunctionNotFoundError:
        created = create_function(db, store, name, declaration.config, bundle, declaration.model)
        return ApplyResult(name, "created", created)
    unchanged = (
        current.kind == declaration.config.kind
        and current.config.comparable() == declaration.config.comparable()
        and current.code_sha256 == (bundle.sha256 if bundle is not None else None)
        and current.model == declaration.model
    )
    if unchanged:
        return ApplyResult(name, "unchanged", current)
    updated = deploy_latest(
        db, store, name, declaration.config, bundle, declaration.model, current.revision_id
    )
    return ApplyResult(name, "updated", updated)


def _where(project: Project, name: str) -> str:
    """How an error names the declaration: `lambeam.toml [functions.NAME]`."""
    return f"{project.settings.config_path.name} [functions.{name}]"
