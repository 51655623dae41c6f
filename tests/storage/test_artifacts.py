"""The artifact store on a local folder and on S3 (moto's server): addressed, verified, atomic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lambeam.errors import ArtifactIntegrityError, StorageError
from lambeam.storage import ArtifactStore


@pytest.fixture
def store(artifact_settings: dict[str, str | None]) -> ArtifactStore:
    options = {}
    if artifact_settings["s3_endpoint_url"]:
        options["client_kwargs"] = {"endpoint_url": artifact_settings["s3_endpoint_url"]}
    return ArtifactStore(str(artifact_settings["artifacts"]), options)


def test_put_returns_sha256_and_reads_back(store: ArtifactStore) -> None:
    data = b"lambeam" * 1000
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.exists(digest)
    assert store.get_bytes(digest) == data


def test_same_bytes_stored_once(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same")
    assert store.put_bytes(b"same") == first


def test_missing_artifact_is_a_clear_error(store: ArtifactStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(missing)
    with pytest.raises(StorageError, match="missing"):
        store.get_bytes(missing)


def test_corrupted_artifact_is_refused(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"original content")
    # Corrupt the stored object behind the store's back.
    store.fs.pipe_file(store._path(digest), b"tampered content")
    with pytest.raises(ArtifactIntegrityError, match="corrupted"):
        store.get_bytes(digest)


def test_get_file_is_verified_and_complete(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"\x00\x01" * 5000)
    out = store.get_file(digest, tmp_path / "copy.bin")
    assert out.read_bytes() == b"\x00\x01" * 5000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_not_a_digest_is_refused(store: ArtifactStore) -> None:
    with pytest.raises(StorageError, match="not a sha256"):
        store.get_bytes("../../etc/passwd")


def test_store_pickles_for_workers(store: ArtifactStore) -> None:
    import pickle

    digest = store.put_bytes(b"travels")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get_bytes(digest) == b"travels"


def test_local_write_leaves_no_temp_files(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "a"))
    digest = store.put_bytes(b"x" * 10)
    folder = Path(store._path(digest)).parent
    assert [p.name for p in folder.iterdir()] == [digest]
