"""Migration 0005 keeps a dataset version's listing on its row; versions from before read their
manifest instead, and list as they did."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from lambeam.data import get_dataset_version, list_dataset_versions
from lambeam.storage import Database
from tests.data.test_manifest import CountingStore
from tests.migrations import migrate, table_columns

SUMMARY = {"label", "train_rows", "test_rows", "profile", "input_columns"}
MANIFEST = {
    "format": 1,
    "pipeline": "old",
    "content_hash": "c" * 64,
    "label": "y",
    "input_columns": [
        {"name": "x", "type": "number", "categories": None, "nullable": True},
        {"name": "city", "type": "string", "categories": ["a", "b"]},
    ],
    "features": [{"name": "x", "kind": "dense", "columns": ["x"]}],
    "shards": [{"digest": "d" * 64, "rows": 5, "train_rows": 4, "test_rows": 1}],
    "transform": "t" * 64,
    "transform_types": [],
    "stats": "s" * 64,
    "profile": {"x": {"count": 4, "missing": 1}},
    "raw_sample": None,
}


def test_dataset_versions_from_before_0005(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url, migrate=False)
    migrate(db, "0004")
    store = CountingStore(str(tmp_path / "artifacts"))
    digest = store.put_bytes(json.dumps(MANIFEST, sort_keys=True, indent=1).encode())
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dataset_versions (pipeline, number, content_hash, spec_hash, manifest,"
                " rows, spec, inputs, runner, duration_s, created_at, created_by)"
                " VALUES ('old', 1, :hash, :hash, :digest, 5, '{}', '[]', 'FnApiRunner', 1.0,"
                " :at, 'ana')"
            ),
            {"hash": "c" * 64, "digest": digest, "at": "2026-01-01 00:00:00"},
        )
    db.migrate()
    assert table_columns(db, "dataset_versions") >= SUMMARY
    (version,) = list_dataset_versions(db, store)
    assert store.reads == 1  # the row keeps no summary: its manifest is read, once
    assert (version.ref, version.label, version.train_rows, version.test_rows) == (
        "old:1",
        "y",
        4,
        1,
    )
    assert version.profile == MANIFEST["profile"]
    assert [c.to_dict() for c in version.input_columns] == MANIFEST["input_columns"]
    assert version.manifest.to_dict() == MANIFEST and store.reads == 1
    assert get_dataset_version(db, store, "old").input_columns == version.input_columns

    migrate(db, "0004", down=True)
    assert not SUMMARY & table_columns(db, "dataset_versions")
    db.dispose()
