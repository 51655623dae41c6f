"""The audit log: every change (deploy, publish, alias move, key created, policy changed, model
registered), who made it and when, in a hash chain.

    with db.session() as session:
        ...                                      # the change itself
        record(session, "lambda:PublishVersion", "function:hello:3", {"code_sha256": "…"})

The entry commits in the change's own transaction: no change without its entry, no entry without
its change. Each entry's hash covers its fields and the previous entry's hash, and the head row
names the last entry, so `verify` finds an entry that was edited, removed or inserted, and a tail
that was cut off. The hash is an HMAC under a key derived from the project's master key (kept
outside the database): someone who can write the database but not read the key cannot rewrite
an entry and recompute the chain after it (a database whose key lives in memory only, a scratch
one, gets plain SHA-256). Appending updates the head row first, which locks it: concurrent writers (two
servers on one PostgreSQL) take turns, and the chain never forks.

Who acted is `acting_as(...)`'s value in this context (a server sets the request's access key),
else the operating-system user running the process.

Call `record` as the transaction's last write: the head row stays locked until the commit, and a
writer that holds it while it waits for another lock could deadlock with one waiting for the head.
Details say what changed (digests, old and new values, names of changed keys), never a secret or
an environment variable's value: the log is readable by whoever can run `lambeam audit ls`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from lambeam.storage.database import Database, as_utc, current_user, utcnow
from lambeam.storage.jsonable import jsonable
from lambeam.storage.schema import AuditHeadRow, AuditRow
from lambeam.storage.sealing import current_sealing

__all__ = [
    "GENESIS",
    "AuditEntry",
    "ChainReport",
    "acting_as",
    "current_actor",
    "entries",
    "head_seq",
    "record",
    "since",
    "verify",
]

GENESIS = "0" * 64
_HEAD_ID = 1
# The columns' sizes (migration 0006): PostgreSQL refuses a longer value, failing the change.
_ACTOR_CHARS, _ACTION_CHARS, _RESOURCE_CHARS = 200, 80, 400
_SEPARATORS = ":@/"  # what follows a resource's name: function:hello:3, model:churn@prod
_actor: ContextVar[str | None] = ContextVar("lambeam_audit_actor", default=None)


@dataclass(frozen=True)
class AuditEntry:
    """One change, as recorded."""

    seq: int
    at: datetime
    actor: str
    action: str
    resource: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: `problems` is empty when the chain is whole."""

    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def current_actor() -> str:
    """Who the changes made in this context are recorded as."""
    return _actor.get() or f"user:{current_user()}"


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Record the changes made inside the block as `actor` (e.g. "key:LBAK… (ci)")."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def record(
    session: Session,
    action: str,
    resource: str,
    details: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
) -> AuditEntry:
    """Append one entry in `session`'s transaction (it commits or rolls back with the change).

    Call it last in the transaction (see the module's docstring).
    """
    session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == _HEAD_ID).values(seq=AuditHeadRow.seq + 1)
    )
    head = session.execute(
        select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == _HEAD_ID)
    ).one()
    seq, prev_hash = int(head.seq), str(head.hash)
    body = {
        "seq": seq,
        "at": utcnow().isoformat(timespec="microseconds"),
        "actor": _fit(actor or current_actor(), _ACTOR_CHARS),
        "action": _fit(action, _ACTION_CHARS),
        "resource": _fit(resource, _RESOURCE_CHARS),
        # Plain JSON as the column gives it back (NaN as null, objects as their repr), so the
        # hash computed now is the one `verify` computes from the stored row.
        "details": json.loads(json.dumps(jsonable(dict(details or {})))),
    }
    digest = _hash(prev_hash, body, _mac_key())
    row = AuditRow(
        seq=seq,
        at=datetime.fromisoformat(body["at"]),
        actor=body["actor"],
        action=body["action"],
        resource=body["resource"],
        details=body["details"],
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(row)
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == _HEAD_ID).values(hash=digest))
    return _entry(row)


def entries(
    db: Database,
    *,
    action: str | None = None,
    resource_prefix: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries oldest first (the newest `limit` of them), optionally of one action or resource.

    `resource_prefix` "function:hello" matches function:hello and its qualifiers
    (function:hello:3, …) but not function:hello2; one ending in ":", "@" or "/" matches
    whatever follows it.
    """
    query = select(AuditRow).order_by(AuditRow.seq.desc())
    if action is not None:
        query = query.where(AuditRow.action == action)
    if resource_prefix is not None:
        column = AuditRow.resource
        if not resource_prefix or resource_prefix[-1] in _SEPARATORS:
            query = query.where(column.startswith(resource_prefix, autoescape=True))
        else:
            query = query.where(
                or_(
                    column == resource_prefix,
                    *(
                        column.startswith(resource_prefix + sep, autoescape=True)
                        for sep in _SEPARATORS
                    ),
                )
            )
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        return [_entry(row) for row in reversed(list(session.scalars(query)))]


def head_seq(db: Database) -> int:
    """The number of the newest entry (0 for none): where a follower of the log starts."""
    with db.session() as session:
        head = session.get(AuditHeadRow, _HEAD_ID)
        return 0 if head is None else int(head.seq)


def since(db: Database, seq: int, *, limit: int = 1000) -> list[AuditEntry]:
    """The entries after `seq`, oldest first (at most `limit`): the change feed.

    An entry's number is taken under the head row's lock, held until its transaction commits, so
    entries become visible in the order of their numbers: a follower that asks for what came
    after the last number it saw misses none.
    """
    query = select(AuditRow).where(AuditRow.seq > seq).order_by(AuditRow.seq).limit(limit)
    with db.session() as session:
        return [_entry(row) for row in session.scalars(query)]


def verify(db: Database) -> ChainReport:
    """Walk the whole chain and name every entry that does not fit it."""
    problems: list[str] = []
    count = 0
    expected_prev = GENESIS
    expected_seq = 1
    with db.session() as session:
        key = _mac_key()
        head = session.get(AuditHeadRow, _HEAD_ID)
        if head is None:
            return ChainReport(0, 0, "", ("the audit head row is missing",))
        for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)).yield_per(1000):
            count += 1
            if row.seq != expected_seq:
                problems.append(
                    f"entry {expected_seq}"
                    + (f" to {row.seq - 1} are" if row.seq - 1 > expected_seq else " is")
                    + " missing"
                    if row.seq > expected_seq
                    else f"entry {row.seq} is out of order"
                )
            if row.prev_hash != expected_prev:
                problems.append(f"entry {row.seq} does not follow the entry before it")
            body = _body(row)
            if key is not None and _hash(row.prev_hash, body, key) == row.hash:
                pass  # keyed with this project's master key: nobody without it could make it
            elif _hash(row.prev_hash, body) == row.hash:
                if key is not None:
                    problems.append(
                        f"entry {row.seq} is not keyed with this project's master key: it was"
                        " rewritten (with its hash recomputed), or written without the key"
                    )
            else:
                problems.append(f"entry {row.seq} was changed after it was written")
            expected_prev = row.hash
            expected_seq = row.seq + 1
        head_seq, head_hash = int(head.seq), str(head.hash)
    if head_seq != expected_seq - 1 or head_hash != expected_prev:
        problems.append(
            f"the log ends at entry {expected_seq - 1} but its head names entry {head_seq}:"
            " entries were removed from the end, or the head was changed"
        )
    return ChainReport(count, head_seq, head_hash, tuple(problems))


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": as_utc(row.at).isoformat(timespec="microseconds"),
        "actor": row.actor,
        "action": row.action,
        "resource": row.resource,
        "details": row.details,
    }


def _mac_key() -> bytes | None:
    """The audit log's MAC key, derived from the master key of the session's database."""
    return current_sealing().sealer.derived_key("audit log")


def _hash(prev_hash: str, body: Mapping[str, Any], key: bytes | None = None) -> str:
    """The entry's HMAC-SHA256 under `key` (a plain SHA-256 without one: a scratch database)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    data = f"{prev_hash}\n{text}".encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=as_utc(row.at),
        actor=row.actor,
        action=row.action,
        resource=row.resource,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
