"""lambeam.toml's events, checked whole before anything is applied, then applied.

    [queues.orders]
    visibility_timeout = 60
    redrive = { dead_letter_queue = "orders-dlq", max_receive_count = 5 }

    [topics.alerts]

    [functions.score]
    code = "functions/score"
    events = [
      { queue = "orders", batch_size = 10 },
      { topic = "alerts" },
      { schedule = "cron(0 8 ? * MON-FRI *)", timezone = "Europe/Paris" },
      { objects = "s3://bucket/incoming/", suffix = ".csv" },
    ]
    [functions.score.async]
    maximum_retry_attempts = 1
    on_failure = "orders-dlq"

Every kind of trigger is one class (DeclarationKind) in the module that owns it, registered in
KINDS by the key that names it in an `events` entry; `[queues.*]`, `[topics.*]` and `.async`
tables are kinds of their own (SECTIONS, FUNCTION_TABLES). `check` parses every declaration and
checks every reference (a queue, a topic, a function) against what is declared or exists: one
error names the first problem and nothing is written. `apply` then writes each kind in one
transaction, and removes what an earlier `apply` made (origin "toml") that is no longer declared;
what the API or CLI made is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.project import Project
from lambeam.storage import Database
from lambeam.storage.schema import FunctionRow, QueueRow, TopicRow

__all__ = [
    "FUNCTION_TABLES",
    "KINDS",
    "SECTIONS",
    "Declaration",
    "DeclarationKind",
    "Declared",
    "EventsApplied",
    "apply_events",
    "check_events",
    "existing",
]

ORIGIN = "toml"  # the `origin` of rows that `apply` made


class Declaration(Protocol):
    """One checked declaration (a queue, a topic, a trigger, an async config)."""

    where: str  # how errors name it: `lambeam.toml [functions.score] events[0]`

    def references(self) -> Sequence[tuple[str, str]]:
        """What must exist for it to apply: ("queue" | "topic" | "function", name) pairs
        ("destination": any of the three)."""
        ...

    def apply(self, session: Session) -> str:
        """Make it true in the database: "created", "updated" or "unchanged"."""
        ...


class DeclarationKind(Protocol):
    """A kind of declaration: parses its tables, and prunes what is no longer declared."""

    name: str  # "queue", "topic", "schedule", "objects", "async", …

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> Declaration:
        """Check one table (`owner` is the function for a trigger, the name for a section);
        raises ConfigError naming `where` and the key at fault."""
        ...

    def prune(self, session: Session, kept: Sequence[Declaration]) -> list[str]:
        """Delete this kind's rows of origin "toml" that `kept` no longer declares; what went."""
        ...


# Keyed by the word that names the kind in lambeam.toml; filled by `_register` on first use.
KINDS: dict[str, Callable[[], DeclarationKind]] = {}  # `events = [{KEY = ...}]` entries
SECTIONS: dict[str, Callable[[], DeclarationKind]] = {}  # top-level [queues.NAME], [topics.NAME]
FUNCTION_TABLES: dict[str, Callable[[], DeclarationKind]] = {}  # [functions.NAME.async]


def _register() -> None:
    """Every kind, from the module that owns it (imported here: those modules need nothing of
    this one, so there is no cycle). A new kind is one line here."""
    if KINDS or SECTIONS or FUNCTION_TABLES:
        return
    from lambeam.events.async_declarations import AsyncSettings

    FUNCTION_TABLES["async"] = AsyncSettings
    from lambeam.events.mapping_declarations import QueueTriggers
    from lambeam.events.queue_declarations import QueueDeclarations

    KINDS["queue"] = QueueTriggers
    SECTIONS["queues"] = QueueDeclarations
    from lambeam.events.schedule_declarations import ScheduleDeclarations

    KINDS["schedule"] = ScheduleDeclarations
    from lambeam.events.topic_declarations import ObjectTriggers, TopicDeclarations, TopicTriggers

    SECTIONS["topics"] = TopicDeclarations  # after queues: a topic may subscribe one
    KINDS["topic"] = TopicTriggers
    KINDS["objects"] = ObjectTriggers


@dataclass
class Declared:
    """Everything lambeam.toml declares about events, checked, by kind (in order of apply)."""

    by_kind: dict[str, tuple[DeclarationKind, list[Declaration]]] = field(default_factory=dict)

    def add(self, kind: DeclarationKind, declaration: Declaration | None) -> None:
        entry = self.by_kind.setdefault(kind.name, (kind, []))
        if declaration is not None:
            entry[1].append(declaration)

    def names(self, what: str) -> set[str]:
        """The queues or topics declared (what references may name besides existing ones)."""
        kind = {"queue": "queues", "topic": "topics"}.get(what, what)
        found = self.by_kind.get(kind)
        return {getattr(d, "name", "") for d in found[1]} if found else set()


@dataclass(frozen=True)
class EventsApplied:
    """What `apply_events` did: (kind, where, action) per declaration, and what was pruned."""

    actions: list[tuple[str, str, str]]
    removed: list[tuple[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": [{"kind": k, "where": w, "action": a} for k, w, a in self.actions],
            "removed": [{"kind": k, "what": w} for k, w in self.removed],
        }


def check_events(
    project: Project,
    declared_functions: set[str],
    exists: Callable[[str, str], bool],
) -> Declared:
    """Parse every event declaration of lambeam.toml and check its references: a queue or topic
    must be declared or exist, a function declared or deployed (`exists(kind, name)` asks the
    database). Raises ConfigError for the first problem; writes nothing."""
    _register()
    settings = project.settings
    config = settings.config_path.name
    declared = Declared()
    for section, make in SECTIONS.items():
        kind = make()
        declared.add(kind, None)
        tables = getattr(settings, section)
        for name in sorted(tables):
            declared.add(kind, kind.parse(name, tables[name], f"{config} [{section}.{name}]"))
    for key in FUNCTION_TABLES:
        declared.add(FUNCTION_TABLES[key](), None)
    for key in KINDS:
        declared.add(KINDS[key](), None)
    for function in sorted(settings.functions):
        table = settings.functions[function]
        where = f"{config} [functions.{function}]"
        for key, make in FUNCTION_TABLES.items():
            if key in table:
                kind = declared.by_kind[make().name][0]
                if not isinstance(table[key], dict):
                    raise ConfigError(f"{where}.{key} must be a table")
                declared.add(kind, kind.parse(function, table[key], f"{where}.{key}"))
        entries = table.get("events", [])
        if not isinstance(entries, list):
            raise ConfigError(f"{where} events must be a list of tables, e.g. [{{ queue = ... }}]")
        for i, entry in enumerate(entries):
            at = f"{where} events[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{at} must be a table, e.g. {{ schedule = ... }}")
            keys = [key for key in KINDS if key in entry]
            if len(keys) != 1:
                raise ConfigError(
                    f"{at} needs exactly one of {', '.join(sorted(KINDS))} = ..., got"
                    f" {', '.join(sorted(entry)) or 'nothing'}"
                )
            kind = declared.by_kind[KINDS[keys[0]]().name][0]
            declared.add(kind, kind.parse(function, entry, at))
    for _kind, declarations in declared.by_kind.values():
        for declaration in declarations:
            for what, name in declaration.references():
                # "destination": an async destination's bare name, a function, queue or topic
                kinds = ("function", "queue", "topic") if what == "destination" else (what,)
                if all(
                    name not in (declared_functions if kind == "function" else declared.names(kind))
                    and not exists(kind, name)
                    for kind in kinds
                ):
                    raise ConfigError(
                        f"{declaration.where} names {what} {name!r}, which is neither declared"
                        " in lambeam.toml nor exists"
                    )
    return declared


def apply_events(project: Project, declared: Declared) -> EventsApplied:
    """Write checked declarations, kind by kind (each in one transaction), pruning the rows an
    earlier apply made that are no longer declared."""
    actions: list[tuple[str, str, str]] = []
    removed: list[tuple[str, str]] = []
    for name, (kind, declarations) in declared.by_kind.items():
        with project.db.session() as session:
            for declaration in declarations:
                actions.append((name, declaration.where, declaration.apply(session)))
            removed += [(name, what) for what in kind.prune(session, declarations)]
    return EventsApplied(actions, removed)


def existing(db: Database) -> Callable[[str, str], bool]:
    """`exists(kind, name)` for `check_events`: whether a queue, topic or function is there."""
    rows: dict[str, Any] = {
        "queue": QueueRow.name,
        "topic": TopicRow.name,
        "function": FunctionRow.name,
    }

    def exists(kind: str, name: str) -> bool:
        column = rows[kind]
        with db.session() as session:
            return session.execute(select(column).where(column == name)).first() is not None

    return exists
