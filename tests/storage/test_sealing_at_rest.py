"""Secrets at rest: what a copy of the database or the artifact store gives away (nothing)."""

from __future__ import annotations

import base64
import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from lambeam.config import Settings, load_settings
from lambeam.errors import StorageError
from lambeam.functions import (
    CodeBundle,
    FunctionConfig,
    create_function,
    get_function,
    publish_version,
    update_function_configuration,
)
from lambeam.functions._rows import config_of, stored_config
from lambeam.project import Project, init_project
from lambeam.security.keys import create_access_key, find_key_row
from lambeam.storage import ArtifactStore, sha256_bytes
from lambeam.storage.sealing import MasterKey, Sealer, SealError

ENV_VALUE = "env-value-3f9a1c7e"
MODEL_PATTERN = b"MODEL-BYTES-PATTERN-5d2e;"


def _settings(root: Path, database_url: str, **changes: object) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        root=root,
        name="p",
        database_url=database_url,
        artifacts=str(root / ".lambeam" / "artifacts"),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


@pytest.fixture
def encrypted(database_url: str, tmp_path: Path) -> Iterator[Project]:
    """A project on each database backend whose artifacts are encrypted too."""
    project = Project.from_settings(
        _settings(tmp_path / "proj", database_url, artifacts_encrypt=True)
    )
    yield project
    project.close()


def _code(tmp_path: Path) -> CodeBundle:
    folder = tmp_path / "code"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("def handler(event, context):\n    return event\n")
    return CodeBundle.from_directory(folder)


def _config(**environment: str) -> FunctionConfig:
    return FunctionConfig(kind="code", handler="app.handler", environment=environment)


def _stored_environments(project: Project) -> list[dict[str, str]]:
    with project.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT config FROM functions UNION ALL SELECT config FROM function_versions")
        )
        configs = [json.loads(c) if isinstance(c, str) else c for (c,) in rows]
    return [c["environment"] for c in configs]


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return [
        str(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and needle in path.read_bytes()
    ]


def test_no_secret_env_value_or_model_byte_is_stored_in_the_clear(
    encrypted: Project, tmp_path: Path
) -> None:
    db, store = encrypted.db, encrypted.store
    key = create_access_key(db, "ci", role="invoker")
    create_function(db, store, "hello", _config(API_TOKEN=ENV_VALUE), code=_code(tmp_path))
    first = publish_version(db, store, "hello")
    model = MODEL_PATTERN * 2000
    digest = store.put_bytes(model)

    # An authorised reader sees plain values, and a publish that changes nothing publishes nothing.
    assert get_function(db, "hello", first.version).config.environment == {"API_TOKEN": ENV_VALUE}
    same = update_function_configuration(db, "hello", _config(API_TOKEN=ENV_VALUE))
    assert same.config.environment == {"API_TOKEN": ENV_VALUE}
    assert publish_version(db, store, "hello").version == first.version
    assert find_key_row(db, key.id) is not None and find_key_row(db, key.id)[1] == key.secret  # type: ignore[index]
    assert digest == sha256_bytes(model) and store.get_bytes(digest) == model

    environments = _stored_environments(encrypted)
    assert len(environments) == 2 and all(
        set(env) == {"API_TOKEN"} and env["API_TOKEN"].startswith("lbs1:") for env in environments
    )
    with db.engine.connect() as connection:
        secret = connection.execute(
            text("SELECT secret FROM access_keys WHERE id = :id"), {"id": key.id}
        ).scalar_one()
    assert secret.startswith("lbs1:") and key.secret not in secret and len(secret) <= 128

    db.dispose()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) or db.engine.dialect.name != "sqlite"
    assert any("objects" in p.parts for p in files)  # the grep reads the database and artifacts
    for needle in (key.secret.encode(), ENV_VALUE.encode(), MODEL_PATTERN):  # type: ignore[union-attr]
        assert _files_holding(tmp_path, needle) == []


def test_plain_rows_from_before_sealing_still_read_and_are_sealed(
    database_url: str, tmp_path: Path
) -> None:
    project = Project.from_settings(_settings(tmp_path / "p", database_url))
    db, store = project.db, project.store
    key = create_access_key(db, "old")
    create_function(db, store, "hello", _config(API_TOKEN=ENV_VALUE), code=_code(tmp_path))
    with db.engine.begin() as connection:  # as a project from before sealing left them
        connection.execute(
            text("UPDATE access_keys SET secret = :s WHERE id = :id"),
            {"s": key.secret, "id": key.id},
        )
        config = {**get_function(db, "hello").config.to_dict(), "environment": {"OLD": "plain"}}
        config.pop("reserved_concurrency")
        connection.execute(
            text("UPDATE functions SET config = :c WHERE name = 'hello'"),
            {"c": json.dumps(config)},
        )
    assert get_function(db, "hello").config.environment == {"OLD": "plain"}
    project.close()

    project = Project.from_settings(project.settings)  # opening seals the old secret
    with project.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT secret FROM access_keys")).scalar_one()
    assert stored.startswith("lbs1:") and find_key_row(project.db, key.id)[1] == key.secret  # type: ignore[index]
    info = get_function(project.db, "hello")
    update_function_configuration(project.db, "hello", info.config)  # the next write seals it
    assert _stored_environments(project)[0]["OLD"].startswith("lbs1:")
    assert get_function(project.db, "hello").config.environment == {"OLD": "plain"}
    project.close()


def test_a_sealed_value_copied_to_another_row_does_not_open(encrypted: Project) -> None:
    db = encrypted.db
    one, two = create_access_key(db, "one"), create_access_key(db, "two")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE access_keys SET secret = (SELECT secret FROM access_keys WHERE id = :one)"
                " WHERE id = :two"
            ),
            {"one": one.id, "two": two.id},
        )
    with pytest.raises(SealError, match=f"secret of access key {two.id}: .*copied"):
        find_key_row(db, two.id)


def test_environment_sealed_for_a_function_opens_for_it_only(encrypted: Project) -> None:
    with encrypted.db.session():
        stored = stored_config(_config(API_TOKEN=ENV_VALUE), "a")
        assert config_of(stored, None, "a").environment == {"API_TOKEN": ENV_VALUE}
        assert stored_config(config_of(stored, None, "a"), "a") == stored  # read back unchanged
        with pytest.raises(SealError, match="environment variable API_TOKEN of function 'b'"):
            config_of(stored, None, "b")


def test_an_environment_value_copied_to_another_function_does_not_open(
    encrypted: Project, tmp_path: Path
) -> None:
    db, store = encrypted.db, encrypted.store
    create_function(db, store, "a", _config(API_TOKEN=ENV_VALUE), code=_code(tmp_path))
    create_function(db, store, "b", _config(API_TOKEN="other"), code=_code(tmp_path / "b"))
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE functions SET config = (SELECT config FROM functions WHERE name = 'a')"
                " WHERE name = 'b'"
            )
        )
    with pytest.raises(SealError, match="environment variable API_TOKEN of function 'b'"):
        get_function(db, "b")


def _store(settings: dict[str, str | None], sealer: Sealer | None, encrypt: bool) -> ArtifactStore:
    options: dict[str, object] = {}
    if settings["s3_endpoint_url"]:
        options["client_kwargs"] = {"endpoint_url": settings["s3_endpoint_url"]}
    return ArtifactStore(str(settings["artifacts"]), options, sealer=sealer, encrypt=encrypt)


def test_encrypted_artifacts_keep_their_plain_address(
    artifact_settings: dict[str, str | None], tmp_path: Path
) -> None:
    key = MasterKey(path=tmp_path / "master.key")
    store = _store(artifact_settings, Sealer(key), encrypt=True)
    model = MODEL_PATTERN * 500
    digest = store.put_bytes(model)
    assert digest == sha256_bytes(model) and store.put_bytes(model) == digest
    raw = store.fs.cat_file(store.url(digest))
    assert MODEL_PATTERN not in raw and len(raw) > len(model)
    assert store.get_bytes(digest) == model and store.size(digest) == len(model)
    out = store.get_file(digest, tmp_path / "out" / "model.bin")
    assert out.read_bytes() == model

    # Blobs stored before encryption still read; sealed ones read with encryption turned off.
    plain = _store(artifact_settings, None, encrypt=False)
    old = plain.put_bytes(b"stored before encryption")
    assert store.get_bytes(old) == b"stored before encryption"
    assert _store(artifact_settings, Sealer(key), encrypt=False).get_bytes(digest) == model
    with pytest.raises(SealError, match="without the master key"):
        plain.get_bytes(digest)

    # In a Beam worker the store re-reads the key file: the key itself never travels.
    copied = pickle.loads(pickle.dumps(store))
    assert copied.get_bytes(digest) == model
    assert key.require(create=False) not in pickle.dumps(store)

    other = _store(artifact_settings, Sealer.ephemeral(), encrypt=True)
    with pytest.raises(SealError, match=f"cannot open artifact {digest} .*sealed with master key"):
        other.get_bytes(digest)
    tampered = bytearray(raw)
    tampered[-1] ^= 1
    store.fs.pipe_file(store.url(digest), bytes(tampered))
    with pytest.raises(SealError, match=f"cannot open artifact {digest} .*changed"):
        store.get_bytes(digest)
    assert isinstance(SealError("x"), StorageError)


def test_encryption_is_a_setting(tmp_path: Path) -> None:
    root = tmp_path / "p"
    init_project(root, environ={}).close()
    assert not load_settings(root, {}).artifacts_encrypt
    assert load_settings(root, {"LAMBEAM_ARTIFACTS_ENCRYPT": "1"}).artifacts_encrypt
    (root / "lambeam.toml").write_text('[project]\nname = "p"\n[artifacts]\nencrypt = true\n')
    assert load_settings(root, {}).artifacts_encrypt
    assert not load_settings(root, {"LAMBEAM_ARTIFACTS_ENCRYPT": "0"}).artifacts_encrypt
    with pytest.raises(ValueError, match="LAMBEAM_ARTIFACTS_ENCRYPT='maybe'"):
        load_settings(root, {"LAMBEAM_ARTIFACTS_ENCRYPT": "maybe"})
    value = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings(root, {"LAMBEAM_MASTER_KEY": value})
    assert settings.master_key == value and value not in repr(settings)

    project = Project.open(root, {})
    digest = project.store.put_bytes(MODEL_PATTERN)
    assert project.store.encrypt and _files_holding(root / ".lambeam", MODEL_PATTERN) == []
    assert project.store.get_bytes(digest) == MODEL_PATTERN
    project.close()
