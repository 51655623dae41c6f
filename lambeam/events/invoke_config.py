"""Lambda's asynchronous-invocation settings of a function, version or alias.

    put_event_invoke_config(db, "score", maximum_retry_attempts=1, on_failure="orders-dlq")
    update_event_invoke_config(db, "score", "prod", maximum_event_age_s=3600)
    event_invoke_config(db, "score", "prod")    # what the dispatcher uses, Lambda's defaults filled

As in Lambda (PutFunctionEventInvokeConfig and its siblings) a config belongs to one qualifier:
`$LATEST` (an unqualified call), a published version or an alias, and an invocation uses the
config of the qualifier it was made with; without one, Lambda's defaults apply (two retries, six
hours' maximum event age, no destinations). Put replaces the whole config (what it leaves out
is back at its default); Update changes only what it names. A destination is a function, an SQS
queue or an SNS topic, given as its ARN or as a bare name (`name` or `name:qualifier` for a
function) that must name exactly one of them. The row keeps Lambda's DestinationConfig with
each destination's ARN, which is what the dispatcher sends to; a `Destination` (kind, name) is
how this module hands it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError, EventInvokeConfigNotFoundError, ValidationError
from lambeam.functions import LATEST, get_function
from lambeam.runtime import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, function_arn
from lambeam.runtime.spec import split_function_name
from lambeam.storage import Database, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import EventInvokeConfigRow, FunctionRow, QueueRow, TopicRow

__all__ = [
    "DEFAULT_MAXIMUM_EVENT_AGE_S",
    "DEFAULT_MAXIMUM_RETRY_ATTEMPTS",
    "UNSET",
    "Destination",
    "EventInvokeConfig",
    "check_maximum_event_age",
    "check_maximum_retry_attempts",
    "dead_letter_destination",
    "declare_event_invoke_config",
    "delete_event_invoke_config",
    "destination_from",
    "event_invoke_config",
    "get_event_invoke_config",
    "list_event_invoke_configs",
    "put_event_invoke_config",
    "update_event_invoke_config",
]

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 21600  # six hours
_RETRIES = (0, 2)
_EVENT_AGE = (60, 21600)
KINDS = ("function", "queue", "topic")
_SERVICES = {"lambda": "function", "sqs": "queue", "sns": "topic"}
_ARN = re.compile(r"arn:aws[a-zA-Z-]*:([a-z0-9-]+):([a-z0-9-]*):([0-9]*):(.+)")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


class _Unset:
    """What an Update leaves as it is (None would clear a destination)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Destination:
    """Where an asynchronous invocation's record goes: a function (at `qualifier`), an SQS
    queue or an SNS topic, by name."""

    kind: str  # "function" | "queue" | "topic"
    name: str
    qualifier: str | None = None

    def arn(self, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
        """Its ARN, as Lambda shows a destination."""
        if self.kind == "function":
            return function_arn(self.name, region, account_id, self.qualifier)
        service = "sqs" if self.kind == "queue" else "sns"
        return f"arn:aws:{service}:{region}:{account_id}:{self.name}"

    @classmethod
    def from_arn(cls, arn: str) -> Destination:
        """The destination an ARN this module wrote names."""
        match = _ARN.fullmatch(arn)
        if match is None or match.group(1) not in _SERVICES:
            raise ConfigError(f"{arn!r} is not a function's, queue's or topic's ARN")
        kind = _SERVICES[match.group(1)]
        if kind != "function":
            return cls(kind, match.group(4))
        name, qualifier = split_function_name(arn)
        return cls(kind, name, qualifier)


@dataclass(frozen=True)
class EventInvokeConfig:
    """The asynchronous-invocation settings of one qualifier of a function. `last_modified`
    is None when nothing is configured (Lambda's defaults); `dead_letter` is the function's
    dead-letter queue (part of its configuration, filled by `event_invoke_config`)."""

    function: str
    qualifier: str = LATEST
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: int = DEFAULT_MAXIMUM_EVENT_AGE_S
    on_success: Destination | None = None
    on_failure: Destination | None = None
    last_modified: datetime | None = None
    origin: str = "api"
    dead_letter: Destination | None = None

    def function_arn(
        self, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID
    ) -> str:
        """The qualified ARN Lambda names a config by (`...:function:NAME:$LATEST`)."""
        return function_arn(self.function, region, account_id, self.qualifier)

    def to_dict(self) -> dict[str, Any]:
        """lambeam's JSON shape (the REST API's and `--json`'s)."""
        return {
            "function": self.function,
            "qualifier": self.qualifier,
            "maximum_retry_attempts": self.maximum_retry_attempts,
            "maximum_event_age": self.maximum_event_age_s,
            "on_success": self.on_success.arn() if self.on_success else None,
            "on_failure": self.on_failure.arn() if self.on_failure else None,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "origin": self.origin,
        }


def destination_from(db: Database | Session, value: object, where: str) -> Destination | None:
    """A destination from an ARN or a bare name (None for None or ""); ConfigError naming
    `where` when it is neither, names another kind of resource, or names nothing that exists."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be an ARN or a name, got {value!r}")
    match = _ARN.fullmatch(value)
    if match is not None:
        kind = _SERVICES.get(match.group(1))
        if kind is None:
            raise ConfigError(
                f"The destination ARN {value} is invalid: {where} must be a function, an SQS"
                " queue or an SNS topic"
            )
        resource = match.group(4)
        if kind == "function":
            name, qualifier = split_function_name(value)
            found = _existing(db, value, where, name, kinds=("function",))
            return Destination(found, name, None if qualifier == LATEST else qualifier)
        _existing(db, value, where, resource, kinds=(kind,))
        return Destination(kind, resource)
    name, _, qualifier = value.partition(":")
    kind = _existing(db, value, where, name, kinds=("function",) if qualifier else KINDS)
    return Destination(kind, name, (qualifier or None) if qualifier != LATEST else None)


def _existing(
    db: Database | Session, given: str, where: str, name: str, kinds: tuple[str, ...]
) -> str:
    """The one kind among `kinds` that has a resource called `name`."""
    tables = {"function": FunctionRow.name, "queue": QueueRow.name, "topic": TopicRow.name}

    def look(session: Session) -> list[str]:
        return [
            kind
            for kind in kinds
            if _NAME.fullmatch(name)
            and session.execute(select(tables[kind]).where(tables[kind] == name)).first()
        ]

    if isinstance(db, Session):
        found = look(db)
    else:
        with db.session() as session:
            found = look(session)
    if len(found) == 1:
        return found[0]
    what = " or ".join(kinds) if len(kinds) > 1 else kinds[0]
    if not found:
        raise ConfigError(f"{where} {given!r} names no {what} that exists")
    raise ConfigError(
        f"{where} {given!r} names a {' and a '.join(found)}: give its ARN"
        " (arn:aws:sqs:..., arn:aws:sns:..., arn:aws:lambda:...)"
    )


def dead_letter_destination(target: str | None) -> Destination | None:
    """A function's dead-letter target (FunctionConfig.dead_letter_target, an ARN) as a
    Destination: the queue or topic it names."""
    if target is None:
        return None
    match = _ARN.fullmatch(target)
    if match is None or match.group(1) not in ("sqs", "sns"):
        raise ConfigError(f"dead-letter target {target!r} is not an SQS queue's or SNS topic's")
    return Destination(_SERVICES[match.group(1)], match.group(4))


def _checked(name: str, value: object, low: int, high: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy"
            f" constraint: Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy"
            f" constraint: Member must have value less than or equal to {high}"
        )
    return value


def _qualifier(db: Database, function: str, qualifier: str | None) -> str:
    """`qualifier` normalised ($LATEST for None), once the function and it are known to exist."""
    name, qualifier = split_function_name(function, qualifier)
    if name != function:
        raise ConfigError(f"{function!r} is not a function name")
    get_function(db, function, qualifier)  # FunctionNotFoundError for a missing version/alias
    return qualifier or LATEST


def _config(row: EventInvokeConfigRow) -> EventInvokeConfig:
    destinations = row.destinations or {}

    def destination(key: str) -> Destination | None:
        arn = (destinations.get(key) or {}).get("Destination")
        return Destination.from_arn(arn) if arn else None

    return EventInvokeConfig(
        function=row.function,
        qualifier=row.qualifier,
        maximum_retry_attempts=row.maximum_retry_attempts,
        maximum_event_age_s=row.maximum_event_age_s,
        on_success=destination("OnSuccess"),
        on_failure=destination("OnFailure"),
        last_modified=row.updated_at,
        origin=row.origin,
    )


def _row(session: Session, function: str, qualifier: str) -> EventInvokeConfigRow | None:
    return session.get(EventInvokeConfigRow, (function, qualifier))


def _missing(function: str, qualifier: str) -> EventInvokeConfigNotFoundError:
    arn = function_arn(function, DEFAULT_REGION, DEFAULT_ACCOUNT_ID, qualifier)
    return EventInvokeConfigNotFoundError(f"The function {arn} doesn't have an EventInvokeConfig")


def _write(
    session: Session, config: EventInvokeConfig, action: str, existing: EventInvokeConfigRow | None
) -> EventInvokeConfig:
    """Store `config` (one row per function and qualifier) and audit it."""
    now = utcnow()
    # Lambda's DestinationConfig, ARNs in the default region and account: what the dispatcher
    # and its destinations read back.
    destinations = {
        "OnSuccess": {"Destination": config.on_success.arn()} if config.on_success else {},
        "OnFailure": {"Destination": config.on_failure.arn()} if config.on_failure else {},
    }
    row = existing or EventInvokeConfigRow(function=config.function, qualifier=config.qualifier)
    row.maximum_retry_attempts = config.maximum_retry_attempts
    row.maximum_event_age_s = config.maximum_event_age_s
    row.destinations = destinations
    row.updated_at = now
    row.origin = config.origin
    if existing is None:
        session.add(row)
    session.flush()
    details = {
        "qualifier": config.qualifier,
        "maximum_retry_attempts": config.maximum_retry_attempts,
        "maximum_event_age": config.maximum_event_age_s,
        **destinations,
    }
    record(session, action, f"function:{config.function}", details)
    return replace(config, last_modified=now)


def declare_event_invoke_config(session: Session, config: EventInvokeConfig) -> str:
    """Make `config` (lambeam.toml's, origin "toml") the stored one in `session`'s
    transaction: "created", "updated" or "unchanged"."""
    existing = _row(session, config.function, config.qualifier)
    if existing is not None and _config(existing) == replace(
        config, last_modified=existing.updated_at
    ):
        return "unchanged"
    _write(session, config, "lambda:PutFunctionEventInvokeConfig", existing)
    return "created" if existing is None else "updated"


def put_event_invoke_config(
    db: Database,
    function: str,
    qualifier: str | None = None,
    *,
    maximum_retry_attempts: int | None = None,
    maximum_event_age_s: int | None = None,
    on_success: object = None,
    on_failure: object = None,
    origin: str = "api",
) -> EventInvokeConfig:
    """Lambda's PutFunctionEventInvokeConfig: the whole config of `function` at `qualifier`
    ($LATEST by default), replacing any earlier one; what is not given is Lambda's default."""
    qualifier = _qualifier(db, function, qualifier)
    config = EventInvokeConfig(
        function,
        qualifier,
        check_maximum_retry_attempts(maximum_retry_attempts),
        check_maximum_event_age(maximum_event_age_s),
        destination_from(db, on_success, "DestinationConfig.OnSuccess.Destination"),
        destination_from(db, on_failure, "DestinationConfig.OnFailure.Destination"),
        origin=origin,
    )
    with db.session() as session:
        existing = _row(session, function, qualifier)
        return _write(session, config, "lambda:PutFunctionEventInvokeConfig", existing)


def update_event_invoke_config(
    db: Database,
    function: str,
    qualifier: str | None = None,
    *,
    maximum_retry_attempts: Any = UNSET,
    maximum_event_age_s: Any = UNSET,
    on_success: Any = UNSET,
    on_failure: Any = UNSET,
) -> EventInvokeConfig:
    """Lambda's UpdateFunctionEventInvokeConfig: change only what is given (None or "" clears
    a destination) in the existing config; EventInvokeConfigNotFoundError without one."""
    qualifier = _qualifier(db, function, qualifier)
    changes: dict[str, Any] = {"origin": "api"}
    if maximum_retry_attempts is not UNSET:
        changes["maximum_retry_attempts"] = check_maximum_retry_attempts(maximum_retry_attempts)
    if maximum_event_age_s is not UNSET:
        changes["maximum_event_age_s"] = check_maximum_event_age(maximum_event_age_s)
    if on_success is not UNSET:
        where = "DestinationConfig.OnSuccess.Destination"
        changes["on_success"] = destination_from(db, on_success, where)
    if on_failure is not UNSET:
        where = "DestinationConfig.OnFailure.Destination"
        changes["on_failure"] = destination_from(db, on_failure, where)
    with db.session() as session:
        existing = _row(session, function, qualifier)
        if existing is None:
            raise _missing(function, qualifier)
        config = replace(_config(existing), **changes)
        return _write(session, config, "lambda:UpdateFunctionEventInvokeConfig", existing)


def get_event_invoke_config(
    db: Database, function: str, qualifier: str | None = None
) -> EventInvokeConfig:
    """Lambda's GetFunctionEventInvokeConfig: the config stored for `qualifier`, or
    EventInvokeConfigNotFoundError (see `event_invoke_config` for the effective one)."""
    qualifier = _qualifier(db, function, qualifier)
    with db.session() as session:
        row = _row(session, function, qualifier)
        if row is None:
            raise _missing(function, qualifier)
        return _config(row)


def delete_event_invoke_config(db: Database, function: str, qualifier: str | None = None) -> None:
    """Lambda's DeleteFunctionEventInvokeConfig: back to Lambda's defaults."""
    qualifier = _qualifier(db, function, qualifier)
    with db.session() as session:
        row = _row(session, function, qualifier)
        if row is None:
            raise _missing(function, qualifier)
        session.delete(row)
        session.flush()
        details = {"qualifier": qualifier}
        record(session, "lambda:DeleteFunctionEventInvokeConfig", f"function:{function}", details)


def list_event_invoke_configs(db: Database, function: str) -> list[EventInvokeConfig]:
    """Lambda's ListFunctionEventInvokeConfigs: every qualifier's config of `function`."""
    _qualifier(db, function, None)
    with db.session() as session:
        rows = session.scalars(
            select(EventInvokeConfigRow)
            .where(EventInvokeConfigRow.function == function)
            .order_by(EventInvokeConfigRow.qualifier)
        )
        return [_config(row) for row in rows]


def event_invoke_config(db: Database, function: str, qualifier: str | None) -> EventInvokeConfig:
    """What an asynchronous invocation of `function` at `qualifier` runs under: the config of
    that qualifier, or Lambda's defaults, with the dead-letter queue of the version it names.
    Raises FunctionNotFoundError when the function (or the qualifier) is gone."""
    info = get_function(db, function, qualifier)
    qualifier = qualifier or LATEST
    with db.session() as session:
        row = _row(session, function, qualifier)
        config = _config(row) if row is not None else EventInvokeConfig(function, qualifier)
    return replace(config, dead_letter=dead_letter_destination(info.config.dead_letter_target))


def check_maximum_retry_attempts(value: object) -> int:
    """MaximumRetryAttempts as Lambda takes it: 0 to 2 (None: the default, 2)."""
    if value is None:
        return DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    return _checked("MaximumRetryAttempts", value, *_RETRIES, "maximumRetryAttempts")


def check_maximum_event_age(value: object) -> int:
    """MaximumEventAgeInSeconds as Lambda takes it: 60 to 21600 (None: the default, 21600)."""
    if value is None:
        return DEFAULT_MAXIMUM_EVENT_AGE_S
    return _checked("MaximumEventAgeInSeconds", value, *_EVENT_AGE, "maximumEventAgeInSeconds")
