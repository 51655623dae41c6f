"""Migration 0002 adds model_versions.onnx_check; versions registered before it still read back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from lambeam.registry import get_model_version
from lambeam.storage import ArtifactStore, Database
from tests.migrations import migrate


def test_versions_from_before_0002_read_back(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url, migrate=False)
    migrate(db, "0001")
    store = ArtifactStore(str(tmp_path / "artifacts"))
    digest = store.put_bytes(b"not loaded in this test")
    with db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO models (name, description, created_at) VALUES ('old', '', :at)"),
            {"at": "2026-01-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO model_versions (model, number, task, estimator, skops, onnx_status,"
                " trusted_types, params, metrics, signature, lineage, duration_s, created_at,"
                " created_by) VALUES ('old', 1, 'regression', 'x.Y', :skops, 'unchecked', '[]',"
                " '{}', '{}', '{}', '{}', 1.0, :at, 'ana')"
            ),
            {"skops": digest, "at": "2026-01-01 00:00:00"},
        )
    db.migrate()
    version = get_model_version(db, store, "old")
    assert (version.ref, version.onnx_status, version.onnx_check) == ("old:1", "unchecked", {})
    db.dispose()
