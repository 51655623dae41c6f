"""The metadata database: an engine for SQLite (WAL) or PostgreSQL, migrated with Alembic."""

from __future__ import annotations

import getpass
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lambeam.errors import StorageError
from lambeam.storage.sealing import Sealer, sealing_for_session

__all__ = ["Database", "as_utc", "current_user", "utcnow"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_T = TypeVar("_T")


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime (SQLite hands back naive ones)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def current_user() -> str:
    """Who is running this process, for lineage and audit records."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Database:
    """Sessions on the metadata database at `url`, migrated to the newest schema on open.

    `sealer` seals the secrets kept in rows (access-key secrets, environment values) under the
    project's master key; a project passes its own. Without one, a Database seals under a key that
    lives in memory as long as it does (tests, scratch databases): what it seals does not open in
    another process, loudly.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        engine_options: dict[str, Any] | None = None,
        sealer: Sealer | None = None,
    ):
        self.url = url
        self.sealer = sealer if sealer is not None else Sealer.ephemeral()
        options = dict(engine_options or {})
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            options.setdefault("connect_args", {}).setdefault("timeout", 30)
        try:
            self.engine: Engine = create_engine(url, **options)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(f"cannot use database {_redact(url)}: {_reason(exc)}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._options = options
        self._writer: Engine | None = None
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is already there)."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot migrate database {_redact(self.url)}: {_reason(exc)}"
            ) from None

    def tables(self) -> set[str]:
        """The names of the tables that exist, for checks and diagnostics."""
        return set(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits as one transaction, or rolls back on any error."""
        session = self._sessions()
        try:
            with sealing_for_session(self.sealer):
                yield session
                session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"database {_redact(self.url)}: {_reason(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection in one transaction that holds the write lock from its first statement.

        On SQLite the transaction begins IMMEDIATE (on a second engine of the same file), so that
        a read-then-update (a queue claiming messages) never loses its lock upgrade to another
        writer; on PostgreSQL it is an ordinary transaction (claims there use row locks, `FOR
        UPDATE SKIP LOCKED`). Commits on leaving, rolls back on any error.
        """
        engine = self.engine
        if self.dialect == "sqlite":
            if self._writer is None:
                # One connection: SQLite has one writer at a time anyway, and writers that
                # wait for the pool queue in Python, where SQLite's busy handler would make
                # them sleep in steps of up to 100 ms (an accept's p99 was 0.4-1.4 s).
                options = dict(self._options, pool_size=1, max_overflow=0, pool_timeout=60)
                self._writer = create_engine(self.url, **options)
                event.listen(self._writer, "connect", _sqlite_pragmas)
                event.listen(self._writer, "connect", _driver_leaves_transactions)
                event.listen(self._writer, "begin", _begin_immediate)
            engine = self._writer
        try:
            with engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StorageError(f"database {_redact(self.url)}: {_reason(exc)}") from exc

    def write_numbered(self, work: Callable[[Session], _T], attempts: int = 5) -> _T:
        """Run `work` in one transaction, again when another writer took the same number first.

        Version numbers are max+1 inside the transaction, guarded by a unique constraint; a
        writer that loses the race gets an IntegrityError and simply takes the next number.
        """
        for attempt in range(attempts):
            try:
                with self.session() as session:
                    return work(session)
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError) or attempt == attempts - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def forget_old_pages(self) -> None:
        """Fold SQLite's write-ahead log into the file and empty it, so that rows just rewritten
        (a secret sealed in place) leave no old copy behind; a no-op on PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._writer is not None:
            self._writer.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and one writer work at once; a busy timeout waits out short locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A secret sealed in place must not survive as plain text in a freed page of the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _driver_leaves_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would BEGIN (deferred) on its own before the first write; SQLAlchemy's `begin`
    # event emits the BEGIN instead (SQLAlchemy's documented recipe for SQLite transactions).
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _reason(exc: Exception) -> str:
    # SQLAlchemy appends the SQL and a documentation link; the driver's first line says what failed.
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
