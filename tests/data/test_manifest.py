"""A dataset version's manifest as a record, and listings that read no manifest."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambeam.data import get_dataset_version, list_dataset_versions, run_pipeline
from lambeam.project import Project
from lambeam.storage import ArtifactStore
from tests.data.conftest import with_pipelines
from tests.data.test_errors import ROWS

PIPELINE = {"label": "label", "columns": {"x": ["impute:median", "log"], "city": ["onehot"]}}


class CountingStore(ArtifactStore):
    """The project's store, counting the blobs read through it."""

    def __init__(self, location: str, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(location, storage_options)
        self.reads = 0

    def get_bytes(self, digest: str) -> bytes:
        self.reads += 1
        return super().get_bytes(digest)


def _versions(project: Project, tmp_path: Path, count: int) -> None:
    """`count` dataset versions of pipeline `rows`, each of different content."""
    path = tmp_path / "rows.csv"
    with_pipelines(project, rows={"source": str(path), **PIPELINE})
    for n in range(count):
        ROWS.assign(x=ROWS["x"] + n).to_csv(path, index=False)
        assert run_pipeline(project, "rows").created


def _summary(version: Any) -> dict[str, Any]:
    return {
        "ref": version.ref,
        "label": version.label,
        "train_rows": version.train_rows,
        "test_rows": version.test_rows,
        "profile": version.profile,
        "input_columns": [c.to_dict() for c in version.input_columns],
    }


def test_listing_versions_reads_no_manifest(
    make: Callable[..., Project], database_url: str, tmp_path: Path
) -> None:
    project = make(database_url=database_url)
    _versions(project, tmp_path, 3)
    store = project.store
    with_manifests = [_summary(v) for v in list_dataset_versions(project.db, store)]
    assert [s["ref"] for s in with_manifests] == ["rows:1", "rows:2", "rows:3"]
    # what a listing shows is what the manifests say
    for summary in with_manifests:
        version = get_dataset_version(project.db, store, summary["ref"])
        manifest = version.manifest
        assert summary["label"] == manifest.label == "label"
        assert summary["train_rows"] + summary["test_rows"] == version.rows == len(ROWS)
        assert summary["profile"] == manifest.profile and summary["profile"]["x"]["count"] == 5
        assert summary["input_columns"] == [c.to_dict() for c in manifest.input_columns]
    assert with_manifests[0]["input_columns"][0] == {
        "name": "id",
        "type": "number",
        "categories": None,
    }

    counting = CountingStore(store.location, store.storage_options)
    listed = list_dataset_versions(project.db, counting)
    assert [_summary(v) for v in listed] == with_manifests
    assert counting.reads == 0
    # with the artifact store gone altogether, listing still answers
    shutil.rmtree(store.location)
    gone = list_dataset_versions(project.db, ArtifactStore(store.location))
    assert [_summary(v) for v in gone] == with_manifests


def test_a_manifest_reads_back_to_the_bytes_it_was_stored_as(
    project: Project, tmp_path: Path
) -> None:
    from lambeam.data.manifest import DatasetManifest

    _versions(project, tmp_path, 1)
    version = get_dataset_version(project.db, project.store, "rows:1")
    stored = project.store.get_bytes(version.manifest_digest)
    manifest = DatasetManifest.from_json(stored)
    assert manifest.to_json() == stored
    assert manifest == version.manifest
    assert manifest.content_hash == version.content_hash and manifest.pipeline == "rows"
    assert manifest.train_rows + manifest.test_rows == len(ROWS)
    amount = {c.name: c for c in manifest.input_columns}["x"]
    assert (amount.nullable, amount.greater_than) == (True, -1.0)


def test_a_manifest_from_before_transform_types_profile_and_raw_sample_reads() -> None:
    from lambeam.data.manifest import DatasetManifest

    old = {
        "format": 1,
        "pipeline": "old",
        "content_hash": "c" * 64,
        "label": None,
        "input_columns": [{"name": "x", "type": "number", "categories": None}],
        "features": [{"name": "x", "kind": "dense", "columns": ["x"]}],
        "shards": [{"digest": "d" * 64, "rows": 3, "train_rows": 2, "test_rows": 1}],
        "transform": "t" * 64,
        "stats": "s" * 64,
    }
    manifest = DatasetManifest.from_json(json.dumps(old).encode())
    assert (manifest.transform_types, manifest.profile, manifest.raw_sample) == ([], {}, None)
    assert (manifest.train_rows, manifest.test_rows) == (2, 1)
    (column,) = manifest.input_columns
    assert (column.name, column.nullable, column.greater_than) == ("x", False, None)
    assert {k: v for k, v in manifest.to_dict().items() if k in old} == old
