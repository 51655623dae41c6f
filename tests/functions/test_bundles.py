"""Code bundles: deterministic zips, Lambda's size limits, zip slip, and atomic unpacking."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
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
from lambeam.functions.bundles import MAX_ENTRIES
from lambeam.storage import ArtifactStore
from tests.functions.conftest import write_code


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _read(data: bytes) -> str:
    """Make a bundle of `data` and read it (an uploaded zip is read on first use)."""
    return CodeBundle.from_zip(data).sha256


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
        _read(_zip({"app.py": b"", name: b"boom"}))
    assert isinstance(caught.value, ConfigError) and repr(name) in str(caught.value)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(CodeBundleError, match="'link' is a symlink"):
        _read(buffer.getvalue())
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
        _read(buffer.getvalue())
    with pytest.raises(CodeBundleError, match="not a zip file"):
        _read(b"not a zip")
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


def _many_entries(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"pkg/m{index}.py", b"")
    return buffer.getvalue()


def _bomb(size: int) -> bytes:
    """A small zip whose one entry inflates to `size` bytes of zeros."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("app.py", "w", force_zip64=True) as handle,
    ):
        chunk = b"\0" * (1 << 22)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
    return buffer.getvalue()


def test_an_uploaded_zip_is_read_on_first_use_only() -> None:
    """What a server makes on its event loop costs a size check; the zip work comes later."""
    bundle = CodeBundle.from_zip(b"not a zip")
    with pytest.raises(CodeBundleError, match="code zip is not a zip file"):
        _ = bundle.data
    with pytest.raises(CodeBundleError, match="not a zip file"):  # and again, not half-built
        _ = bundle.sha256


def test_too_many_entries_are_refused_naming_the_limit() -> None:
    data = _many_entries(MAX_ENTRIES + 1)
    with pytest.raises(CodeBundleError, match=f"has {MAX_ENTRIES + 1:,} entries, more than"):
        _read(data)
    # A zip whose end record lies about its count is still counted from its directory.
    end = data.rfind(b"PK\x05\x06")
    forged = data[: end + 8] + (1).to_bytes(2, "little") * 2 + data[end + 12 :]
    with pytest.raises(CodeBundleError, match=f"has {MAX_ENTRIES + 1:,} entries"):
        _read(forged)
    assert len(CodeBundle.from_zip(_many_entries(100)).data) > 0


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    data = _bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    assert len(data) < 200_000
    with pytest.raises(
        CodeBundleError, match=r"entry 'app.py' unpacks [\d,]+ times its compressed size.*zip bombs"
    ):
        _read(data)
    with pytest.raises(CodeBundleError, match=r"250 MB limit \(at entry 'app.py'\)"):
        _read(_bomb(MAX_UNZIPPED_BYTES + (4 << 20)))
    # Compressible files under 1 MiB are not judged by their ratio.
    assert CodeBundle.from_zip(_zip({"zeros.bin": b"\0" * (1 << 20)})).requirements is None


def test_a_file_that_is_also_a_folder_is_refused() -> None:
    with pytest.raises(
        CodeBundleError, match=r"'pkg' is a file and also the folder of 'pkg/a\.py'"
    ):
        _read(_zip({"pkg": b"", "pkg/a.py": b""}))


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        path.relative_to(root).as_posix(): (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_materialized_code_is_read_only_and_checked_on_every_use(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    code = write_code(tmp_path / "code", {"pkg/util.py": "Y = 2\n", "run.sh": "#!/bin/sh\n"})
    (code / "run.sh").chmod(0o755)
    digest = store.put_bytes(CodeBundle.from_directory(code).data)
    cache = tmp_path / "cache"
    target = materialize(store, digest, cache)
    original = _tree(target)
    assert {mode for mode, _ in original.values()} == {0o444, 0o555}
    assert original["run.sh"][0] == 0o555
    assert {stat.S_IMODE(p.stat().st_mode) for p in [target, target / "pkg"]} == {0o555}
    app = target / "app.py"
    if os.geteuid() != 0:  # root writes whatever the mode says
        with pytest.raises(PermissionError):
            app.write_text("def handler(event, context):\n    return 'owned'\n")

    def tamper(change: Callable[[], None]) -> None:
        (target).chmod(0o755)
        (target / "pkg").chmod(0o755)
        change()
        assert materialize(store, digest, cache) == target
        assert _tree(target) == original
        assert sorted(p.name for p in cache.iterdir()) == [digest]  # nothing left aside

    def rewrite() -> None:
        app.chmod(0o644)
        app.write_text("def handler(event, context):\n    return 'owned'\n")
        os.utime(app, (0, 0))

    tamper(rewrite)
    tamper(lambda: (target / "pkg" / "json.py").write_text("x = 1\n"))  # a shadowing module
    tamper(lambda: (target / "pkg" / "__pycache__").mkdir())
    tamper(lambda: (target / "pkg" / "util.py").unlink())
    tamper(lambda: None)  # a folder made writable again
    tamper(lambda: (target / "pkg" / "util.py").chmod(0o666))

    # A new process (no manifest in memory) checks the folder against the store's bytes.
    rewrite()
    script = (
        "import sys; from lambeam.functions import materialize; from lambeam.storage import"
        " ArtifactStore; materialize(ArtifactStore(sys.argv[1]), sys.argv[2], sys.argv[3])"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "artifacts"), digest, str(cache)],
        check=True,
        timeout=120,
    )
    assert _tree(target) == original
