"""Moving a test database to one Alembic revision of lambeam's schema, to write rows as an older
lambeam did and check that the next migration keeps them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

import lambeam.storage
from lambeam.storage import Database


def migrate(db: Database, revision: str, down: bool = False) -> None:
    """Upgrade (or, `down`, downgrade) `db` to `revision`."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(lambeam.storage.__file__).with_name("migrations"))
    )
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def table_columns(db: Database, table: str) -> set[str]:
    """The names of `table`'s columns as the database has them now."""
    return {column["name"] for column in inspect(db.engine).get_columns(table)}
