"""Migration 0004 adds functions.last_version; functions from before it read back and publish on."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from lambeam.functions import get_function, list_versions, publish_version
from lambeam.storage import ArtifactStore, Database
from tests.migrations import migrate, table_columns

CONFIG = json.dumps({"kind": "code", "handler": "app.handler"})
CHANGED = json.dumps({"kind": "code", "handler": "app.other"})


def test_functions_from_before_0004(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url, migrate=False)
    migrate(db, "0003")
    digest = ArtifactStore(str(tmp_path / "artifacts")).put_bytes(b"code")
    values = {"at": "2026-01-01 00:00:00", "digest": digest, "old": CONFIG, "new": CHANGED}
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO functions (name, kind, config, code_sha256, reserved_concurrency,"
                " revision_id, created_at, updated_at)"
                " VALUES ('old', 'code', :new, :digest, NULL, 'r1', :at, :at)"
            ),
            values,
        )
        connection.execute(
            text(
                "INSERT INTO function_versions (function, number, config, code_sha256,"
                " description, created_at, created_by)"
                " VALUES ('old', 1, :old, :digest, '', :at, 'ana')"
            ),
            values,
        )
    db.migrate()
    assert "last_version" in table_columns(db, "functions")
    assert get_function(db, "old").config.handler == "app.other"
    assert [v.config.handler for v in list_versions(db, "old")] == ["app.other", "app.handler"]
    store = ArtifactStore(str(tmp_path / "artifacts"))
    assert publish_version(db, store, "old").number == 2  # after the version it already had

    migrate(db, "0003", down=True)
    assert "last_version" not in table_columns(db, "functions")
    db.dispose()
