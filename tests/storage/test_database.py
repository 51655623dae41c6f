"""The metadata database on SQLite (WAL) and PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from lambeam.errors import StorageError
from lambeam.storage import Database, utcnow
from lambeam.storage.schema import ModelRow


def test_migrates_to_head_and_is_idempotent(database_url: str) -> None:
    db = Database(database_url)
    assert {
        "dataset_versions",
        "models",
        "model_versions",
        "model_aliases",
        "alias_events",
    } <= db.tables()
    Database(database_url).migrate()  # a second open is a no-op
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
    db.dispose()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option(
        "script_location",
        str(Path(__file__).resolve().parents[2] / "lambeam" / "storage" / "migrations"),
    )
    return ScriptDirectory.from_config(config).get_current_head()


def test_session_commits_or_rolls_back(database_url: str) -> None:
    db = Database(database_url)
    with db.session() as session:
        session.add(ModelRow(name="churn", description="", created_at=utcnow()))
    try:
        with db.session() as session:
            session.add(ModelRow(name="other", description="", created_at=utcnow()))
            session.add(ModelRow(name="churn", description="", created_at=utcnow()))
    except StorageError:
        pass
    with db.session() as session:
        assert list(session.scalars(select(ModelRow.name))) == ["churn"]
    db.dispose()


def test_sqlite_uses_wal(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


def test_unreachable_database_is_a_clear_error() -> None:
    import pytest

    with pytest.raises(StorageError, match="cannot migrate database"):
        Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_database_errors_are_one_line() -> None:
    import pytest

    with pytest.raises(StorageError) as caught:
        Database("postgresql+psycopg://u:secret@127.0.0.1:1/x?connect_timeout=2")
    assert "\n" not in str(caught.value) and "secret" not in str(caught.value)
