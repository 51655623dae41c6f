"""Access keys: an AWS-style key id and secret per user or machine, kept in the metadata database.

The secret cannot be stored as a hash: Signature V4 verification recomputes the client's HMAC
with the secret itself. So it is encrypted at rest instead: sealed with AES-256-GCM under the
project's master key (lambeam.storage.sealing), bound to its key id, and opened only to verify a
signature or show it to its owner. A copy of the database without the master key holds no usable
secret. Rows written before sealing are sealed when a project opens (`seal_plaintext_secrets`).
Creating and disabling a key are recorded in the audit log.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.security.errors import AccessKeyError, AccessKeyNotFoundError
from lambeam.storage import Database, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import AccessKeyRow
from lambeam.storage.sealing import SEALED_TEXT_PREFIX, is_sealed_text

__all__ = [
    "KEY_ID_PREFIX",
    "KEY_TTL_S",
    "ROLES",
    "AccessKey",
    "KeyCache",
    "create_access_key",
    "disable_access_key",
    "find_key_row",
    "get_secret",
    "key_cache",
    "list_access_keys",
    "seal_plaintext_secrets",
    "touch_last_used",
]

# Like AWS's "AKIA…": a fixed prefix and 16 more uppercase letters and digits, 20 in all.
KEY_ID_PREFIX = "LBAK"
KEY_ID_LENGTH = 20
SECRET_LENGTH = 40
# What a key may do is for the faces to enforce; "invoker" keys are meant to invoke functions only.
ROLES = ("admin", "invoker")
# last_used_at is a hint for whoever lists keys, not an audit log: write it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long a server reuses a key it read: a key disabled elsewhere is refused within this.
KEY_TTL_S = 1.0
_MAX_CACHED = 10_000
_MISSING = object()

_NAME_MAX = 200  # access_keys.name
_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class AccessKey:
    """An access key. `secret` is set only on the value `create_access_key` returns."""

    id: str
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None = None
    last_used_at: datetime | None = None
    secret: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


def create_access_key(db: Database, name: str, role: str = "admin") -> AccessKey:
    """Make a new key with a random id and secret; the returned value is the one that holds both."""
    if not name or not name.strip() or len(name) > _NAME_MAX:
        raise AccessKeyError(
            f"an access key needs a name of 1 to {_NAME_MAX} characters (who or what will use it)"
        )
    if role not in ROLES:
        raise AccessKeyError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    key_id = KEY_ID_PREFIX + "".join(
        secrets.choice(_ID_ALPHABET) for _ in range(KEY_ID_LENGTH - len(KEY_ID_PREFIX))
    )
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    sealed = db.sealer.seal_text(secret, _context(key_id))
    row = AccessKeyRow(id=key_id, secret=sealed, name=name, role=role, created_at=utcnow())
    with db.session() as session:
        session.add(row)
        record(session, "keys:CreateAccessKey", f"key:{key_id}", {"name": name, "role": role})
    return replace(_key(row), secret=secret)


def list_access_keys(db: Database, *, include_disabled: bool = True) -> list[AccessKey]:
    """Every access key, oldest first, without secrets."""
    query = select(AccessKeyRow).order_by(AccessKeyRow.created_at, AccessKeyRow.id)
    if not include_disabled:
        query = query.where(AccessKeyRow.disabled_at.is_(None))
    with db.session() as session:
        return [_key(row) for row in session.scalars(query)]


def disable_access_key(db: Database, key_id: str) -> AccessKey:
    """Refuse the key from now on (kept for the record; disabling twice keeps the first time)."""
    with db.session() as session:
        row = _existing(session, key_id)
        if row.disabled_at is None:
            row.disabled_at = utcnow()
            record(
                session,
                "keys:DisableAccessKey",
                f"key:{key_id}",
                {"name": row.name, "role": row.role},
            )
        return _key(row)


def get_secret(db: Database, key_id: str) -> str:
    """The secret of `key_id` (disabled or not), for showing it again to its owner."""
    with db.session() as session:
        return _secret(db, _existing(session, key_id))


def seal_plaintext_secrets(db: Database) -> int:
    """Seal the secrets of keys stored before sealing (in place); returns how many there were."""
    with db.session() as session:
        plain = ~AccessKeyRow.secret.startswith(SEALED_TEXT_PREFIX, autoescape=True)
        rows = list(session.scalars(select(AccessKeyRow).where(plain).order_by(AccessKeyRow.id)))
        for row in rows:
            row.secret = db.sealer.seal_text(row.secret, _context(row.id))
    if rows:
        db.forget_old_pages()  # the plain secrets must not linger in the WAL or freed pages
    return len(rows)


def _context(key_id: str) -> str:
    # Bound to the row: a sealed secret copied onto another key's row does not open.
    return f"access_keys.secret:{key_id}"


def _secret(db: Database, row: AccessKeyRow) -> str:
    if not is_sealed_text(row.secret):
        return row.secret  # stored before sealing; sealed when the project next opens
    return db.sealer.open_text(row.secret, _context(row.id), f"the secret of access key {row.id}")


def _existing(session: Session, key_id: str) -> AccessKeyRow:
    row = session.get(AccessKeyRow, key_id)
    if row is None:
        raise AccessKeyNotFoundError(f"no access key {key_id!r}")
    return row


class KeyCache:
    """The keys the verifiers read, reused for `ttl_s` (a server's; `ttl_s=0` reads every time).

    An unknown id is remembered too, so a flood of made-up ids costs one read per id per second.
    `last_used_at` is written at most once a minute per key, as `touch_last_used` does.
    """

    def __init__(
        self,
        db: Database,
        ttl_s: float = KEY_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._caching = ttl_s > 0
        # A bounded cache: made-up ids push out old entries instead of growing it without end.
        self._found: TTLCache[str, tuple[AccessKey, str] | None] = TTLCache(
            maxsize=_MAX_CACHED, ttl=max(ttl_s, 1e-9), timer=clock
        )
        # Credentials (a bearer token) that passed in the last `ttl_s`: the next request with the
        # same ones is let in on one lookup. A key disabled meanwhile is refused after `ttl_s`.
        self._passed: TTLCache[str, AccessKey] = TTLCache(
            maxsize=_MAX_CACHED, ttl=max(ttl_s, 1e-9), timer=clock
        )

    def passed(self, credentials: str | None) -> AccessKey | None:
        """The key these exact credentials were verified as within `ttl_s`, else None."""
        if not credentials:
            return None
        try:  # one lookup, where TTLCache.get makes two (`in`, then `[]`): every request asks
            return self._passed[credentials]
        except KeyError:
            return None

    def remember(self, credentials: str, key: AccessKey) -> None:
        """Record that `credentials` were just verified as `key` (and its use was recorded)."""
        if self._caching:
            self._passed[credentials] = key

    def fresh(self, key_id: str) -> bool:
        """Whether `find` and `touch` for `key_id` would answer without the database."""
        found = self._found.get(key_id, _MISSING)
        if found is _MISSING:
            return False
        return found is None or not _touch_due(found[0], utcnow())  # type: ignore[index]

    def find(self, key_id: str) -> tuple[AccessKey, str] | None:
        """The key and its secret, or None (read at most every `ttl_s`)."""
        cached = self._found.get(key_id, _MISSING)  # one lookup: an entry may expire between two
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        found = find_key_row(self.db, key_id)
        if self._caching:
            self._found[key_id] = found
        return found

    def touch(self, key: AccessKey, now: datetime) -> None:
        """Record that `key` was used at `now` (at most once a minute)."""
        if not _touch_due(key, now):
            return
        touch_last_used(self.db, key, now)
        found = self._found.get(key.id)
        if found is not None:
            self._found[key.id] = (replace(found[0], last_used_at=now), found[1])


def _touch_due(key: AccessKey, now: datetime) -> bool:
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION


def key_cache(source: Database | KeyCache) -> KeyCache:
    """`source` as a KeyCache: a Database is read on every call."""
    return source if isinstance(source, KeyCache) else KeyCache(source, ttl_s=0)


def find_key_row(db: Database, key_id: str) -> tuple[AccessKey, str] | None:
    """The key and its secret, or None; for the verifiers in this package only."""
    with db.session() as session:
        row = session.get(AccessKeyRow, key_id)
        return None if row is None else (_key(row), _secret(db, row))


def touch_last_used(db: Database, key: AccessKey, now: datetime) -> None:
    """Record that `key` was used at `now`, unless that was recorded less than a minute before."""
    if not _touch_due(key, now):
        return
    with db.session() as session:
        row = session.get(AccessKeyRow, key.id)
        if row is not None:
            row.last_used_at = now


def _key(row: AccessKeyRow) -> AccessKey:
    return AccessKey(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=_aware(row.created_at),
        disabled_at=_aware(row.disabled_at) if row.disabled_at else None,
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
    )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; lambeam stores UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
