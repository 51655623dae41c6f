"""Code bundles: deterministic zips, Lambda's size limits, zip slip, and atomic unpacking."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambeam.errors import ArtifactIntegrityError, ConfigError
from lambeam.functions import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    CodeBundle,
    CodeBundleError,
    materialize,
)
from lambeam.storage import ArtifactStore
from tests.functions.conftest import write_code


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_same_code_same_digest(tmp_path: Path) -> None:
    first = write_code(tmp_path / "a", {"pkg/__init__.py": "", "pkg/util.py": "Y = 2\n"})
    second = write_code(tmp_path / "b", {"pkg/util.py": "Y = 2\n", "pkg/__init__.py": ""})
    os.utime(second / "app.py", (1_000_000, 1_000_000))  # other timestamps do not matter
    (second / "pkg" / "__pycache__").mkdir()
    (second / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0junk")
    one, two = CodeBundle.from_directory(first), CodeBundle.from_directory(second)
    assert one.sha256 == two.sha256 and one.data == two.data and one.requirements is None
    # The zip of a directory, given back as a zip, is the same bundle.
    assert CodeBundle.from_zip(one.data).sha256 == one.sha256
    path = tmp_path / "code.zip"
    path.write_bytes(
        _zip(
            {
                "pkg/util.py": b"Y = 2\n",
                "app.py": (first / "app.py").read_bytes(),
                "pkg/__init__.py": b"",
            }
        )
    )
    assert CodeBundle.from_path(path).sha256 == one.sha256
    with zipfile.ZipFile(io.BytesIO(one.data)) as archive:
        assert archive.namelist() == ["app.py", "pkg/__init__.py", "pkg/util.py"]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    (second / "pkg" / "util.py").write_text("Y = 3\n")
    assert CodeBundle.from_directory(second).sha256 != one.sha256
    (second / "pkg" / "util.py").write_text("Y = 2\n")
    (second / "app.py").chmod(0o755)  # the executable bit is part of the content
    assert CodeBundle.from_directory(second).sha256 != one.sha256


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "a/../../evil.py", "/etc/evil.py", "a\\..\\evil.py", "C:/evil.py", "./x.py"],
)
def test_zip_slip_is_refused(name: str) -> None:
    with pytest.raises(CodeBundleError, match=r"not a plain relative path.*\(zip slip\)") as caught:
        CodeBundle.from_zip(_zip({"app.py": b"", name: b"boom"}))
    assert isinstance(caught.value, ConfigError) and repr(name) in str(caught.value)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(CodeBundleError, match="'link' is a symlink"):
        CodeBundle.from_zip(buffer.getvalue())
    code = write_code(tmp_path / "code")
    (tmp_path / "secret.txt").write_text("s")
    (code / "secret.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(CodeBundleError, match="links outside the directory"):
        CodeBundle.from_directory(code)


def test_lambda_size_limits(tmp_path: Path) -> None:
    with pytest.raises(CodeBundleError, match="zipped, more than Lambda's 50 MB limit"):
        CodeBundle.from_zip(b"PK" + b"\0" * MAX_ZIPPED_BYTES)
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as handle,
    ):
        chunk = b"\0" * (1 << 22)
        for _ in range(MAX_UNZIPPED_BYTES // len(chunk) + 1):
            handle.write(chunk)
    with pytest.raises(CodeBundleError, match="unpacks to more than Lambda's 250 MB limit"):
        CodeBundle.from_zip(buffer.getvalue())
    with pytest.raises(CodeBundleError, match="not a zip file"):
        CodeBundle.from_zip(b"not a zip")
    with pytest.raises(CodeBundleError, match="does not exist"):
        CodeBundle.from_directory(tmp_path / "missing")


def test_materialize_unpacks_once_and_verifies(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    code = write_code(tmp_path / "code", {"pkg/util.py": "Y = 2\n", "run.sh": "#!/bin/sh\n"})
    (code / "run.sh").chmod(0o755)
    bundle = CodeBundle.from_directory(code)
    digest = store.put_bytes(bundle.data)
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(8) as pool:  # racing unpackers all end with the one complete copy
        paths = set(pool.map(lambda _: materialize(store, digest, cache), range(8)))
    assert paths == {cache / digest}
    target = cache / digest
    assert (target / "pkg" / "util.py").read_text() == "Y = 2\n"
    assert os.access(target / "run.sh", os.X_OK) and not os.access(target / "app.py", os.X_OK)
    assert sorted(p.name for p in cache.iterdir()) == [digest]  # no scratch left behind

    # A corrupted blob is refused and leaves nothing in the cache.
    blob = Path(store.url(digest))
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    other = tmp_path / "cache2"
    with pytest.raises(ArtifactIntegrityError, match=digest):
        materialize(store, digest, other)
    assert not other.exists() or list(other.iterdir()) == []
    # Once unpacked, the directory is used as it is.
    assert materialize(store, digest, cache) == target
