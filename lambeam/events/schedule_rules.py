"""What a schedule must be, as EventBridge Scheduler and Lambda would have it: its name, its
target function (existing now) and its input (the event, JSON within Lambda's async limit)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError, FunctionNotFoundError
from lambeam.invoke.request import MAX_EVENT_PAYLOAD_BYTES
from lambeam.runtime.spec import split_function_name
from lambeam.storage.schema import FunctionAliasRow, FunctionRow, FunctionVersionRow

__all__ = ["check_enabled", "check_input", "check_schedule_name", "resolve_target"]

# EventBridge Scheduler's rule for a schedule's name.
_NAME = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_LATEST = "$LATEST"


def check_schedule_name(name: object) -> str:
    """`name` if Scheduler would take it: 1 to 64 letters, digits, `-`, `_` and `.`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"schedule name {name!r} is not valid: 1 to 64 letters, digits, '-', '_' and '.'"
        )
    return name


def resolve_target(session: Session, function: Any, qualifier: Any) -> tuple[str, str | None]:
    """The function and qualifier a schedule invokes, checked to exist now."""
    if not isinstance(function, str) or not function:
        raise ConfigError("a schedule's target is a function: its name, name:qualifier or ARN")
    if qualifier is not None and (not isinstance(qualifier, str) or not qualifier):
        raise ConfigError("qualifier must be a version number or an alias")
    name, qualifier = split_function_name(function, qualifier)
    if session.get(FunctionRow, name) is None:
        raise FunctionNotFoundError(f"Function not found: {name} (the schedule's target)")
    if qualifier is None or qualifier == _LATEST:
        return name, None
    if qualifier.isdigit():
        found: Any = session.scalars(
            select(FunctionVersionRow.number).where(
                FunctionVersionRow.function == name, FunctionVersionRow.number == int(qualifier)
            )
        ).first()
    else:
        found = session.scalars(
            select(FunctionAliasRow.name).where(
                FunctionAliasRow.function == name, FunctionAliasRow.name == qualifier
            )
        ).first()
    if found is None:
        raise FunctionNotFoundError(
            f"Function not found: {name}:{qualifier} (no such version or alias)"
        )
    return name, qualifier


def check_input(value: Any) -> None:
    """The input is the event: JSON, within Lambda's asynchronous payload limit."""
    if value is None:
        return
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise ConfigError("a schedule's input must be JSON (an object, list, string, …)") from None
    if size > MAX_EVENT_PAYLOAD_BYTES:
        raise ConfigError(
            f"a schedule's input is {size} bytes; an event is at most {MAX_EVENT_PAYLOAD_BYTES}"
        )


def check_enabled(value: Any) -> None:
    """`enabled` is a boolean."""
    if not isinstance(value, bool):
        raise ConfigError("enabled must be true or false")
