"""lambeam.toml's `[functions.NAME.async]`: a function's asynchronous-invocation settings.

    [functions.score.async]
    maximum_retry_attempts = 1          # 0-2 (default 2)
    maximum_event_age = 3600            # seconds, 60-21600 (default 21600)
    on_success = "audit"                # a function, queue or topic: its name or ARN
    on_failure = "orders-dlq"
    dead_letter_queue = "orders-dlq"    # a queue's name or a queue's or topic's ARN

The settings are the unqualified function's ($LATEST's) event invoke config, as Lambda's
PutFunctionEventInvokeConfig without a qualifier makes them; `dead_letter_queue` is part of the
function's configuration (Lambda's DeadLetterConfig), which `lambeam apply` writes with the rest
of `[functions.NAME]`. A destination's name must be declared or exist (checked before anything
is applied). A config the API made is replaced by a declared one, and never removed by `apply`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.events.invoke_config import (
    EventInvokeConfig,
    check_maximum_event_age,
    check_maximum_retry_attempts,
    declare_event_invoke_config,
    destination_from,
)
from lambeam.functions import LATEST
from lambeam.storage.schema import EventInvokeConfigRow

__all__ = ["AsyncDeclaration", "AsyncSettings"]

_ORIGIN = "toml"
_KEYS = (
    "maximum_retry_attempts",
    "maximum_event_age",
    "on_success",
    "on_failure",
    "dead_letter_queue",
)
_SERVICES = {"lambda": "function", "sqs": "queue", "sns": "topic"}


@dataclass  # not frozen: the Declaration protocol's `where` is a plain attribute
class AsyncDeclaration:
    """One checked `[functions.NAME.async]` table."""

    where: str
    function: str
    maximum_retry_attempts: int
    maximum_event_age_s: int
    on_success: str | None
    on_failure: str | None
    dead_letter_queue: str | None

    def references(self) -> Sequence[tuple[str, str]]:
        found = [_reference(self.on_success), _reference(self.on_failure)]
        if self.dead_letter_queue is not None:
            found.append(_reference(self.dead_letter_queue, bare="queue"))
        return [reference for reference in found if reference is not None]

    def apply(self, session: Session) -> str:
        def destination(value: str | None, key: str) -> Any:
            return destination_from(session, value, f"{self.where} {key}")

        config = EventInvokeConfig(
            self.function,
            LATEST,
            self.maximum_retry_attempts,
            self.maximum_event_age_s,
            destination(self.on_success, "on_success"),
            destination(self.on_failure, "on_failure"),
            origin=_ORIGIN,
        )
        return declare_event_invoke_config(session, config)


def _reference(value: str | None, bare: str = "destination") -> tuple[str, str] | None:
    """What a destination needs: (kind, name) from an ARN; a bare name is any of a function, a
    queue or a topic ("destination"), or of `bare`."""
    if value is None:
        return None
    if value.startswith("arn:"):
        parts = value.split(":")
        kind = _SERVICES.get(parts[2]) if len(parts) > 5 else None
        if kind is None:
            return None  # refused at parse
        return (kind, parts[6] if kind == "function" and len(parts) > 6 else parts[5])
    return (bare, value.partition(":")[0])


class AsyncSettings:
    """The `[functions.NAME.async]` tables (FUNCTION_TABLES["async"])."""

    name = "async"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> AsyncDeclaration:
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}; expected one of {', '.join(_KEYS)}"
            )
        try:
            retries = check_maximum_retry_attempts(table.get("maximum_retry_attempts"))
        except ConfigError as exc:
            raise ConfigError(f"{where} maximum_retry_attempts must be 0 to 2: {exc}") from None
        try:
            age = check_maximum_event_age(table.get("maximum_event_age"))
        except ConfigError as exc:
            raise ConfigError(
                f"{where} maximum_event_age must be 60 to 21600 seconds: {exc}"
            ) from None
        values: dict[str, str | None] = {}
        for key in ("on_success", "on_failure", "dead_letter_queue"):
            value = table.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{where} {key} must be a name or an ARN, got {value!r}")
            if isinstance(value, str) and value.startswith("arn:"):
                service = value.split(":")[2] if value.count(":") >= 5 else ""
                dead_letter = key == "dead_letter_queue"
                if service not in (("sqs", "sns") if dead_letter else tuple(_SERVICES)):
                    what = "a queue or topic" if dead_letter else "a function, queue or topic"
                    raise ConfigError(f"{where} {key} = {value!r} is not the ARN of {what}")
            values[key] = value
        return AsyncDeclaration(
            where,
            owner,
            retries,
            age,
            values["on_success"],
            values["on_failure"],
            values["dead_letter_queue"],
        )

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        declared = {declaration.function for declaration in kept}
        rows = session.scalars(
            select(EventInvokeConfigRow).where(EventInvokeConfigRow.origin == _ORIGIN)
        )
        gone = [row for row in rows if row.function not in declared or row.qualifier != LATEST]
        for row in gone:
            session.delete(row)
        return [f"{row.function}:{row.qualifier}" for row in gone]
