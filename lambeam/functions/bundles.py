"""Code bundles: a directory or zip of a function's code, as one deterministic zip.

The same files always give the same bytes (entries sorted, timestamps fixed, modes reduced to
0644/0755), so the bundle's sha256 names its content and the artifact store keeps it once.
Bundles are checked against Lambda's limits before anything is decompressed: entries, unpacked
size, the compression ratio of each entry (a zip bomb), names that would land outside the
directory they are unpacked into ("zip slip"), and symlinks.

An uploaded zip (`CodeBundle.from_zip(bytes)`) is only size-checked when it is made: it is read
and normalised on first use of `data`, `sha256` or `requirements`, so a server that makes it on
its event loop and deploys it in a worker thread does the zip work in that thread.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import secrets
import shutil
import stat
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lambeam.functions.errors import CodeBundleError
from lambeam.storage import ArtifactStore, sha256_bytes
from lambeam.storage.directories import write_once

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_ENTRIES",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "REQUIREMENTS_FILE",
    "CodeBundle",
    "b64_sha256",
    "materialize",
    "unpack",
    "zip_directory",
]

MAX_ZIPPED_BYTES = 50 * 1024 * 1024  # Lambda's limit for a directly uploaded zip
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # Lambda's limit for the unpacked deployment package
# Lambda states no entry limit; 20,000 holds numpy, pandas, scipy and scikit-learn installed
# together (about 9,000 files), and refuses the 100k-entry zips that take seconds to walk.
MAX_ENTRIES = 20_000
# Source code deflates 3-10x; zeros reach ~1,000x. Entries under 1 MiB are never judged.
MAX_COMPRESSION_RATIO = 100
_RATIO_FLOOR = 1 << 20
REQUIREMENTS_FILE = "requirements.txt"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_CHUNK = 1 << 20
# Byproducts of running the code, not part of it: they would change the digest on every run.
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# An unpacked bundle is read-only: a handler that writes into it fails unless it chmods first,
# and materialize notices the change either way.
_READ_ONLY_FILE, _READ_ONLY_EXEC, _READ_ONLY_DIR = 0o444, 0o555, 0o555

_log = logging.getLogger(__name__)


def b64_sha256(hex_digest: str) -> str:
    """Lambda's CodeSha256: the base64 of the raw sha256, from its hex form."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


@dataclass(frozen=True)
class _Entry:
    """One file of a bundle being read: its name, mode, declared size and a reader of its bytes."""

    name: str
    mode: int
    size: int
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class _Normalised:
    data: bytes
    sha256: str
    requirements: bytes | None


class CodeBundle:
    """A normalised zip of a function's code; `sha256` (hex) names it in the artifact store."""

    def __init__(self, build: Callable[[], _Normalised]) -> None:
        self._build: Callable[[], _Normalised] | None = build
        self._built: _Normalised | None = None
        self._lock = threading.Lock()

    def _normalised(self) -> _Normalised:
        with self._lock:
            if self._built is None:
                build, self._build = self._build, None
                try:
                    self._built = build()  # type: ignore[misc]  # set until built
                except BaseException:
                    self._build = build  # a refusal is raised again on the next use
                    raise
            return self._built

    @property
    def data(self) -> bytes:
        """The deterministic zip's bytes."""
        return self._normalised().data

    @property
    def sha256(self) -> str:
        """The hex sha256 of `data`: the bundle's name in the artifact store."""
        return self._normalised().sha256

    @property
    def requirements(self) -> bytes | None:
        """The root requirements.txt, when the bundle has one."""
        return self._normalised().requirements

    @property
    def code_sha256(self) -> str:
        """Lambda's CodeSha256 (base64 of the digest)."""
        return b64_sha256(self.sha256)

    @property
    def size(self) -> int:
        """Lambda's CodeSize: bytes of the zip."""
        return len(self.data)

    def __repr__(self) -> str:
        known = self._built.sha256[:12] if self._built is not None else "not read yet"
        return f"CodeBundle({known})"

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> CodeBundle:
        """The files under `path` (without __pycache__ and .pyc files), read now."""
        root = Path(path)
        if not root.is_dir():
            raise CodeBundleError(f"code directory {root} does not exist or is not a directory")
        what = f"code directory {root}"
        bundle = cls(lambda: _normalise(_directory_entries(root), what))
        bundle._normalised()
        return bundle

    @classmethod
    def from_zip(cls, source: bytes | str | os.PathLike[str]) -> CodeBundle:
        """A zip's files, as bytes (Lambda's ZipFile) or a path to a .zip file.

        Bytes are only size-checked here and read on first use (see the module's docstring);
        a path is read now.
        """
        if isinstance(source, bytes):
            data, what = source, "code zip"
        else:
            what = f"code zip {source}"
            try:
                if Path(source).stat().st_size > MAX_ZIPPED_BYTES:
                    raise CodeBundleError(_too_big_zipped(what, Path(source).stat().st_size))
                data = Path(source).read_bytes()
            except OSError as exc:
                raise CodeBundleError(f"cannot read {what}: {exc.strerror or exc}") from None
        if len(data) > MAX_ZIPPED_BYTES:
            raise CodeBundleError(_too_big_zipped(what, len(data)))
        bundle = cls(lambda: _normalise_zip(data, what))
        if not isinstance(source, bytes):
            bundle._normalised()
        return bundle

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> CodeBundle:
        """A directory or a .zip file, whichever `path` is."""
        return cls.from_directory(path) if Path(path).is_dir() else cls.from_zip(path)


def zip_directory(path: str | os.PathLike[str]) -> bytes:
    """The deterministic zip of a directory's files (how installed requirements are stored)."""
    return CodeBundle.from_directory(path).data


def unpack(data: bytes, directory: Path, what: str = "bundle") -> dict[str, tuple[int, str]]:
    """Write a bundle's files under `directory`, checked as an upload is (limits, zip slip,
    symlinks); returns each file's mode and sha256, by name."""
    written: dict[str, tuple[int, str]] = {}
    with _open_zip(data, what) as archive:
        for entry in _zip_entries(archive, what):
            target = directory.joinpath(*PurePosixPath(entry.name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                for chunk in entry.chunks():
                    digest.update(chunk)
                    out.write(chunk)
            target.chmod(entry.mode)
            written[entry.name] = (entry.mode, digest.hexdigest())
    return written


def materialize(store: ArtifactStore, digest: str, cache_dir: str | os.PathLike[str]) -> Path:
    """The bundle `digest` unpacked, read-only, into `cache_dir/<digest>/`, checked against it.

    A directory already there is used only if its files are exactly the bundle's (names, bytes
    by sha256, modes, nothing more: a __pycache__ counts too); otherwise it is logged, removed
    and unpacked again from the store, whose bytes are verified against the digest. A new copy
    is unpacked beside the final one and renamed into place, so a reader never sees half a
    bundle, and two processes racing to unpack the same bundle both end up with one copy.
    """
    final = Path(cache_dir) / digest
    what = f"bundle {digest[:12]}"
    expected = _MANIFESTS.get(digest)
    data: bytes | None = None
    if final.is_dir():
        if expected is None:
            data = store.get_bytes(digest)
            expected = _MANIFESTS.put(digest, _manifest_of(data, what))
        problem = _difference(final, expected)
        if problem is None:
            return final
        _log.warning(
            "code cache %s was changed (%s); unpacking it again from the store", final, problem
        )
        _discard(final)
    if data is None:
        data = store.get_bytes(digest)
    written: dict[str, tuple[int, str]] = {}

    def fill(scratch: Path) -> None:
        written.update(unpack(data, scratch, what))
        _make_read_only(scratch)

    write_once(final, fill)
    _MANIFESTS.put(digest, _read_only(written) if written else _manifest_of(data, what))
    return final


class _Manifests:
    """What each unpacked bundle holds, by digest: name → (mode once read-only, sha256).

    Kept for the process's life (bounded) so that checking a cached directory reads only its
    files, not the bundle; a digest names immutable, verified content, so an entry never goes
    stale.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: dict[str, dict[str, tuple[int, str]]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> dict[str, tuple[int, str]] | None:
        with self._lock:
            return self._entries.get(digest)

    def put(self, digest: str, manifest: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = manifest
            while len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]
        return manifest


_MANIFESTS = _Manifests()


def _read_only(written: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    return {
        name: (_READ_ONLY_EXEC if mode & 0o111 else _READ_ONLY_FILE, sha)
        for name, (mode, sha) in written.items()
    }


def _manifest_of(data: bytes, what: str) -> dict[str, tuple[int, str]]:
    manifest: dict[str, tuple[int, str]] = {}
    with _open_zip(data, what) as archive:
        for entry in _zip_entries(archive, what):
            digest = hashlib.sha256()
            for chunk in entry.chunks():
                digest.update(chunk)
            manifest[entry.name] = (entry.mode, digest.hexdigest())
    return _read_only(manifest)


def _difference(directory: Path, expected: dict[str, tuple[int, str]]) -> str | None:
    """The first way `directory` differs from `expected`, in words; None when it does not."""
    seen = 0
    pending = [(directory, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            folder_mode = stat.S_IMODE(folder.stat().st_mode)
            children = list(os.scandir(folder))
        except OSError as exc:
            return f"{prefix or '.'} cannot be read: {exc.strerror or exc}"
        if folder_mode != _READ_ONLY_DIR:
            return f"{prefix or '.'} has mode {folder_mode:o}"
        for child in children:
            name = f"{prefix}{child.name}"
            if child.is_symlink():
                return f"{name} is a symlink"
            if child.is_dir():
                pending.append((Path(child.path), f"{name}/"))
                continue
            want = expected.get(name)
            if want is None:
                return f"{name} is not in the bundle"
            mode = stat.S_IMODE(child.stat().st_mode)
            if mode != want[0]:
                return f"{name} has mode {mode:o}"
            try:
                with open(child.path, "rb") as handle:
                    actual = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                return f"{name} cannot be read: {exc.strerror or exc}"
            if actual != want[1]:
                return f"{name} has other content"
            seen += 1
    if seen != len(expected):
        return f"{len(expected) - seen} file(s) of the bundle are missing"
    return None


def _make_read_only(root: Path) -> None:
    for folder, _dirs, _files in os.walk(root, topdown=False):
        os.chmod(folder, _READ_ONLY_DIR)  # files were given their modes as they were written
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            path.chmod(_READ_ONLY_EXEC if path.stat().st_mode & 0o111 else _READ_ONLY_FILE)


def _discard(directory: Path) -> None:
    """Remove a read-only tree: renamed out of the way first, so that it vanishes at once."""
    aside = directory.with_name(f".{directory.name[:12]}-stale-{secrets.token_hex(4)}")
    try:
        os.rename(directory, aside)
    except FileNotFoundError:
        return  # another thread or process took it away first
    for folder, _dirs, _files in os.walk(aside):
        os.chmod(folder, 0o755)
    shutil.rmtree(aside, ignore_errors=True)


def _too_big_zipped(what: str, size: int) -> str:
    return (
        f"{what} is {size / 2**20:.1f} MB zipped, more than Lambda's"
        f" {MAX_ZIPPED_BYTES // 2**20} MB limit"
    )


def _too_big_unzipped(what: str, name: str | None = None) -> str:
    where = f" (at entry {name!r})" if name is not None else ""
    return f"{what} unpacks to more than Lambda's {MAX_UNZIPPED_BYTES // 2**20} MB limit{where}"


def _too_many_entries(what: str, count: int) -> str:
    return (
        f"{what} has {count:,} entries, more than lambeam's limit of {MAX_ENTRIES:,}; install"
        " large dependencies from a requirements.txt instead of zipping them"
    )


def _mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _safe_name(name: str, what: str) -> str:
    """`name` if it is a plain relative path that unpacks under the target directory."""
    parts = name.split("/")
    if (
        "\\" in name
        or "\x00" in name
        or ":" in parts[0]
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise CodeBundleError(
            f"{what}: entry {name!r} is not a plain relative path; unpacked, it could land outside"
            " the function's directory (zip slip)"
        )
    return name


def _file_chunks(path: Path) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    return chunks


def _directory_entries(root: Path) -> list[_Entry]:
    real_root = root.resolve()
    total = 0
    seen: set[Path] = set()
    entries: list[_Entry] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = Path(folder).resolve()
        if not real.is_relative_to(real_root):
            raise CodeBundleError(f"code directory {root}: {folder} links outside the directory")
        if real in seen:
            raise CodeBundleError(f"code directory {root}: {folder} is a symlink loop")
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for filename in sorted(files):
            if filename.endswith(_SKIPPED_SUFFIXES):
                continue
            path = Path(folder) / filename
            if not path.resolve().is_relative_to(real_root):
                raise CodeBundleError(f"code directory {root}: {path} links outside the directory")
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                continue
            name = path.relative_to(root).as_posix()
            total += info.st_size
            if total > MAX_UNZIPPED_BYTES:
                raise CodeBundleError(_too_big_unzipped(f"code directory {root}", name))
            entries.append(_Entry(name, _mode(info.st_mode), info.st_size, _file_chunks(path)))
            if len(entries) > MAX_ENTRIES:
                raise CodeBundleError(_too_many_entries(f"code directory {root}", len(entries)))
    return entries


def _declared_entries(data: bytes) -> int:
    """The entry count a zip's end record declares (0 when there is none to read); read before
    the central directory is parsed, which takes ~4 µs an entry."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - 22))
    if end < 0 or len(data) < end + 22:
        return 0
    count = int.from_bytes(data[end + 10 : end + 12], "little")
    locator = end - 20
    if count == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        record = int.from_bytes(data[locator + 8 : locator + 16], "little")
        if data[record : record + 4] == b"PK\x06\x06":
            count = int.from_bytes(data[record + 32 : record + 40], "little")
    return count


def _open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    declared = _declared_entries(data)
    if declared > MAX_ENTRIES:
        raise CodeBundleError(_too_many_entries(what, declared))
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CodeBundleError(f"{what} is not a zip file: {exc}") from None


def _zip_entries(archive: zipfile.ZipFile, what: str) -> list[_Entry]:
    """The files of `archive`, every one checked from the central directory before any is
    decompressed; each entry's reader stops at its declared size."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > MAX_ENTRIES:
        raise CodeBundleError(_too_many_entries(what, len(infos)))
    total = 0
    entries: list[_Entry] = []
    for info in infos:
        name = _safe_name(info.filename, what)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise CodeBundleError(
                f"{what}: entry {name!r} is a symlink; lambeam unpacks files only"
            )
        total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise CodeBundleError(_too_big_unzipped(what, name))
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise CodeBundleError(
                f"{what}: entry {name!r} unpacks {info.file_size / max(info.compress_size, 1):,.0f}"
                f" times its compressed size ({info.compress_size:,} bytes to"
                f" {info.file_size:,}), past the limit of {MAX_COMPRESSION_RATIO}x that refuses"
                " zip bombs"
            )
        entries.append(_Entry(name, _mode(mode), info.file_size, _zip_chunks(archive, info, what)))
    return entries


def _zip_chunks(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str
) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        try:
            # zipfile stops at the declared size and checks the CRC: a lying header fails here.
            with archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            raise CodeBundleError(f"{what}: cannot read {info.filename!r}: {exc}") from None
        except RuntimeError as exc:  # an encrypted entry
            raise CodeBundleError(f"{what}: cannot read {info.filename!r}: {exc}") from None

    return chunks


def _normalise_zip(data: bytes, what: str) -> _Normalised:
    with _open_zip(data, what) as archive:
        return _normalise(_zip_entries(archive, what), what)


def _normalise(entries: Iterable[_Entry], what: str) -> _Normalised:
    """The deterministic zip of `entries`, written one chunk at a time."""
    files: dict[str, _Entry] = {}
    for entry in entries:
        if entry.name in files:
            raise CodeBundleError(f"{what}: entry {entry.name!r} appears twice")
        files[entry.name] = entry
    for name in files:
        parent = PurePosixPath(name).parent
        while parent.parts:
            if str(parent) in files:
                raise CodeBundleError(
                    f"{what}: entry {str(parent)!r} is a file and also the folder of {name!r}"
                )
            parent = parent.parent
    buffer = io.BytesIO()
    requirements: bytes | None = None
    total = 0
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            entry = files[name]
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so that the mode below is honoured
            info.external_attr = (stat.S_IFREG | entry.mode) << 16
            kept: list[bytes] | None = [] if name == REQUIREMENTS_FILE else None
            with archive.open(info, "w") as out:
                for chunk in entry.chunks():
                    total += len(chunk)
                    if total > MAX_UNZIPPED_BYTES:
                        raise CodeBundleError(_too_big_unzipped(what, name))
                    out.write(chunk)
                    if kept is not None:
                        kept.append(chunk)
            if kept is not None:
                requirements = b"".join(kept)
            if buffer.tell() > MAX_ZIPPED_BYTES:
                raise CodeBundleError(_too_big_zipped(what, buffer.tell()))
    data = buffer.getvalue()
    return _Normalised(data, sha256_bytes(data), requirements)
