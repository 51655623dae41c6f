"""Access keys in the metadata database, and the credentials file boto3 reads."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import botocore.session
import pytest
from sqlalchemy import text

from lambeam.security import (
    AccessKeyError,
    AccessKeyNotFoundError,
    create_access_key,
    disable_access_key,
    get_secret,
    list_access_keys,
    write_credentials_file,
)
from lambeam.security.keys import find_key_row
from lambeam.storage import Database
from lambeam.storage.audit import entries, verify


def test_keys_are_created_and_listed(db: Database) -> None:
    admin = create_access_key(db, "admin")
    ci = create_access_key(db, "ci", role="invoker")
    assert re.fullmatch(r"LBAK[A-Z0-9]{16}", admin.id)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", admin.secret or "")
    assert admin.id != ci.id and admin.secret != ci.secret
    assert admin.secret not in repr(admin)

    listed = list_access_keys(db)
    assert [(k.id, k.name, k.role) for k in listed] == [
        (admin.id, "admin", "admin"),
        (ci.id, "ci", "invoker"),
    ]
    assert all(k.secret is None and k.enabled and k.created_at.tzinfo for k in listed)
    assert get_secret(db, ci.id) == ci.secret


def test_disabled_keys_are_kept_and_marked(db: Database) -> None:
    key = create_access_key(db, "old")
    disabled = disable_access_key(db, key.id)
    assert not disabled.enabled
    assert disable_access_key(db, key.id).disabled_at == disabled.disabled_at
    assert list_access_keys(db, include_disabled=False) == []
    assert [k.id for k in list_access_keys(db)] == [key.id]


def test_unknown_keys_and_bad_requests(db: Database) -> None:
    with pytest.raises(AccessKeyNotFoundError, match="LBAKNOPE"):
        get_secret(db, "LBAKNOPE")
    with pytest.raises(AccessKeyNotFoundError):
        disable_access_key(db, "LBAKNOPE")
    with pytest.raises(AccessKeyError, match="unknown role 'root'"):
        create_access_key(db, "x", role="root")
    for name in (" ", "x" * 201):
        with pytest.raises(AccessKeyError, match="name"):
            create_access_key(db, name)


def test_credentials_file_is_private_and_boto3_reads_it(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = create_access_key(db, "admin")
    old_umask = os.umask(0)  # even with a permissive umask the file is 0600
    try:
        path = write_credentials_file(tmp_path / "state" / "credentials", key)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    session = botocore.session.Session(profile="lambeam")
    credentials = session.get_credentials()
    assert (credentials.access_key, credentials.secret_key) == (key.id, key.secret)

    with pytest.raises(ValueError):
        write_credentials_file(path, list_access_keys(db)[0])  # a listed key carries no secret


def test_the_secret_is_sealed_in_its_row(db: Database) -> None:
    key = create_access_key(db, "admin")
    with db.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT secret FROM access_keys WHERE id = :id"), {"id": key.id}
        ).scalar_one()
    assert stored.startswith("lbs1:") and key.secret not in stored
    assert len(stored) <= 128  # access_keys.secret is String(128)
    assert get_secret(db, key.id) == key.secret
    assert find_key_row(db, key.id) == (list_access_keys(db)[0], key.secret)


def test_creating_and_disabling_a_key_is_audited(db: Database) -> None:
    key = create_access_key(db, "ci", role="invoker")
    disable_access_key(db, key.id)
    disable_access_key(db, key.id)  # already disabled: nothing changes, nothing is recorded
    recorded = [(e.action, e.resource, e.details) for e in entries(db, resource_prefix="key:")]
    assert recorded == [
        ("keys:CreateAccessKey", f"key:{key.id}", {"name": "ci", "role": "invoker"}),
        ("keys:DisableAccessKey", f"key:{key.id}", {"name": "ci", "role": "invoker"}),
    ]
    assert verify(db).ok
    assert not any(key.secret in json.dumps(e.details) for e in entries(db))  # type: ignore[operator]
