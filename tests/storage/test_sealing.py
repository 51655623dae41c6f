"""The master key and sealed values: what opens, and what refuses to, with which words."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from lambeam.errors import ConfigError, StorageError
from lambeam.project import Project, init_project
from lambeam.security.keys import get_secret, list_access_keys
from lambeam.storage.sealing import (
    MASTER_KEY_FILE,
    MasterKey,
    MasterKeyError,
    Sealer,
    SealError,
    current_sealing,
    is_sealed_blob,
    is_sealed_text,
    write_private_file,
)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_a_value_opens_where_it_was_sealed_and_nowhere_else() -> None:
    sealer = Sealer.ephemeral()
    sealed = sealer.seal_text("s3cr3t", "access_keys.secret:LBAKONE")
    assert is_sealed_text(sealed) and "s3cr3t" not in sealed
    assert sealer.seal_text("s3cr3t", "access_keys.secret:LBAKONE") != sealed  # a fresh nonce
    assert sealer.open_text(sealed, "access_keys.secret:LBAKONE", "the secret") == "s3cr3t"
    with pytest.raises(SealError, match=r"cannot open the secret of LBAKTWO: .*copied"):
        sealer.open_text(sealed, "access_keys.secret:LBAKTWO", "the secret of LBAKTWO")

    blob = sealer.seal_blob(b"model bytes", "artifact:ab")
    assert is_sealed_blob(blob) and b"model bytes" not in blob
    assert sealer.open_blob(blob, "artifact:ab", "artifact ab") == b"model bytes"


def test_a_tampered_value_is_an_error_never_garbage() -> None:
    sealer = Sealer.ephemeral()
    sealed = sealer.seal_text("value", "here")
    head, token = sealed.rsplit(":", 1)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(SealError, match=r"cannot open GREETING: .*changed"):
        sealer.open_text(f"{head}:{flipped}", "here", "GREETING")
    with pytest.raises(SealError, match=r"cannot open GREETING: .*malformed"):
        sealer.open_text("lbs1:zz:nothex", "here", "GREETING")
    with pytest.raises(SealError, match="truncated"):
        sealer.open_text(f"{head}:{token[:10]}", "here", "GREETING")
    blob = bytearray(sealer.seal_blob(b"x" * 100, "artifact:ab"))
    blob[-20] ^= 1
    with pytest.raises(SealError, match=r"cannot open artifact ab: .*changed"):
        sealer.open_blob(bytes(blob), "artifact:ab", "artifact ab")


def test_a_wrong_key_is_named_as_such() -> None:
    mine, theirs = Sealer(MasterKey(value=_key())), Sealer(MasterKey(value=_key()))
    sealed = theirs.seal_text("value", "here")
    with pytest.raises(SealError, match=r"sealed with master key [0-9a-f]{8}, but the key in use"):
        mine.open_text(sealed, "here", "the value")
    with pytest.raises(SealError, match="LAMBEAM_MASTER_KEY"):
        mine.open_text(sealed, "here", "the value")


@pytest.mark.parametrize("value", [" ", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_is_a_config_error(tmp_path: Path, value: str) -> None:
    init_project(tmp_path / "p", environ={}).close()
    with pytest.raises(ConfigError, match=r"LAMBEAM_MASTER_KEY is not a master key: .*32 random"):
        Project.open(tmp_path / "p", {"LAMBEAM_MASTER_KEY": value})


def test_the_key_file_is_made_private_on_first_need(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / ".lambeam").mkdir(parents=True)
    path = root / ".lambeam" / MASTER_KEY_FILE
    old_umask = os.umask(0)  # even with a permissive umask the file is 0600
    try:
        project = init_project(root, environ={})  # makes the admin key: something to seal
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".master")] == []
    key = list_access_keys(project.db)[0]
    project.close()

    again = Project.open(root, {})
    assert get_secret(again.db, key.id)  # the same key, read back from the file
    again.close()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    init_project(root, environ={}).close()
    path = root / ".lambeam" / MASTER_KEY_FILE
    path.chmod(0o640)
    project = Project.open(root, {})
    key_id = list_access_keys(project.db)[0].id
    with pytest.raises(MasterKeyError, match=rf"{path} is readable by others .*chmod 600"):
        get_secret(project.db, key_id)
    project.close()


def test_sealed_data_without_its_key_file_names_the_variable_and_the_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    init_project(root, environ={}).close()
    path = root / ".lambeam" / MASTER_KEY_FILE
    path.unlink()
    project = Project.open(root, {})
    key_id = list_access_keys(project.db)[0].id
    with pytest.raises(MasterKeyError) as caught:
        get_secret(project.db, key_id)
    message = str(caught.value)
    assert f"cannot open the secret of access key {key_id}: it is sealed" in message
    assert "LAMBEAM_MASTER_KEY is not set" in message and str(path) in message
    assert not path.exists()  # opening never makes a key that could not open it
    project.close()


def test_the_key_can_come_from_the_environment_instead(tmp_path: Path) -> None:
    root, value = tmp_path / "p", _key()
    project = init_project(root, environ={"LAMBEAM_MASTER_KEY": value})
    key_id = list_access_keys(project.db)[0].id
    project.close()
    assert not (root / ".lambeam" / MASTER_KEY_FILE).exists()
    again = Project.open(root, {"LAMBEAM_MASTER_KEY": value})
    assert get_secret(again.db, key_id)
    again.close()
    other = Project.open(root, {"LAMBEAM_MASTER_KEY": _key()})
    with pytest.raises(SealError, match=f"secret of access key {key_id}: it was sealed with"):
        get_secret(other.db, key_id)
    other.close()


def test_a_private_file_is_not_replaced_when_asked_not_to(tmp_path: Path) -> None:
    path = tmp_path / "k"
    assert write_private_file(path, b"first", replace=False)
    assert not write_private_file(path, b"second", replace=False)
    assert path.read_bytes() == b"first"
    assert write_private_file(path, b"third")
    assert path.read_bytes() == b"third" and [p.name for p in tmp_path.iterdir()] == ["k"]


def test_sealed_rows_need_a_session() -> None:
    with pytest.raises(StorageError, match=r"inside a database session"):
        current_sealing()
