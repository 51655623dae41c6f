"""Code bundles: a directory or zip of a function's code, as one deterministic zip.

The same files always give the same bytes (entries sorted, timestamps fixed, modes reduced to
0644/0755), so the bundle's sha256 names its content and the artifact store keeps it once.
Bundles are checked against Lambda's limits and refused if an entry would land outside the
directory it is unpacked into ("zip slip").
"""

from __future__ import annotations

import base64
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lambeam.functions.errors import CodeBundleError
from lambeam.storage import ArtifactStore, sha256_bytes
from lambeam.storage.directories import write_once

__all__ = [
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
REQUIREMENTS_FILE = "requirements.txt"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
# Byproducts of running the code, not part of it: they would change the digest on every run.
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def b64_sha256(hex_digest: str) -> str:
    """Lambda's CodeSha256: the base64 of the raw sha256, from its hex form."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


@dataclass(frozen=True)
class CodeBundle:
    """A normalised zip of a function's code; `sha256` (hex) names it in the artifact store."""

    data: bytes
    sha256: str
    requirements: bytes | None  # the root requirements.txt, when the bundle has one

    @property
    def code_sha256(self) -> str:
        """Lambda's CodeSha256 (base64 of the digest)."""
        return b64_sha256(self.sha256)

    @property
    def size(self) -> int:
        """Lambda's CodeSize: bytes of the zip."""
        return len(self.data)

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> CodeBundle:
        """The files under `path` (without __pycache__ and .pyc files)."""
        root = Path(path)
        if not root.is_dir():
            raise CodeBundleError(f"code directory {root} does not exist or is not a directory")
        return cls._from_entries(_directory_entries(root), f"code directory {root}")

    @classmethod
    def from_zip(cls, source: bytes | str | os.PathLike[str]) -> CodeBundle:
        """A zip's files, as bytes (Lambda's ZipFile) or a path to a .zip file."""
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
        return cls._from_entries(_zip_entries(data, what), what)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> CodeBundle:
        """A directory or a .zip file, whichever `path` is."""
        return cls.from_directory(path) if Path(path).is_dir() else cls.from_zip(path)

    @classmethod
    def _from_entries(cls, entries: Iterable[tuple[str, bytes, int]], what: str) -> CodeBundle:
        data = _deterministic_zip(entries, what)
        if len(data) > MAX_ZIPPED_BYTES:
            raise CodeBundleError(_too_big_zipped(what, len(data)))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            requirements = archive.read(REQUIREMENTS_FILE) if REQUIREMENTS_FILE in names else None
        return cls(data=data, sha256=sha256_bytes(data), requirements=requirements)


def zip_directory(path: str | os.PathLike[str]) -> bytes:
    """The deterministic zip of a directory's files (how installed requirements are stored)."""
    return CodeBundle.from_directory(path).data


def unpack(data: bytes, directory: Path, what: str = "bundle") -> None:
    """Write a bundle's files under `directory`, refusing entries that would land outside it."""
    for name, content, mode in _zip_entries(data, what):
        target = directory.joinpath(*PurePosixPath(name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)


def materialize(store: ArtifactStore, digest: str, cache_dir: str | os.PathLike[str]) -> Path:
    """Unpack the bundle `digest` into `cache_dir/<digest>/` (once) and return that directory.

    The bytes are verified against the digest by the store; they are unpacked into a temporary
    directory beside the final one and renamed into place, so a reader never sees half a bundle,
    and two processes racing to unpack the same bundle both end up with one complete copy.
    """
    final = Path(cache_dir) / digest
    if final.is_dir():
        return final
    data = store.get_bytes(digest)
    return write_once(final, lambda scratch: unpack(data, scratch, f"bundle {digest[:12]}"))


def _too_big_zipped(what: str, size: int) -> str:
    return (
        f"{what} is {size / 2**20:.1f} MB zipped, more than Lambda's"
        f" {MAX_ZIPPED_BYTES // 2**20} MB limit"
    )


def _too_big_unzipped(what: str) -> str:
    return f"{what} unpacks to more than Lambda's {MAX_UNZIPPED_BYTES // 2**20} MB limit"


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


def _directory_entries(root: Path) -> Iterator[tuple[str, bytes, int]]:
    real_root = root.resolve()
    total = 0
    seen: set[Path] = set()
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
            total += info.st_size
            if total > MAX_UNZIPPED_BYTES:
                raise CodeBundleError(_too_big_unzipped(f"code directory {root}"))
            name = path.relative_to(root).as_posix()
            yield name, path.read_bytes(), _mode(info.st_mode)


def _zip_entries(data: bytes, what: str) -> Iterator[tuple[str, bytes, int]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CodeBundleError(f"{what} is not a zip file: {exc}") from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if sum(info.file_size for info in infos) > MAX_UNZIPPED_BYTES:
            raise CodeBundleError(_too_big_unzipped(what))
        for info in infos:
            _safe_name(info.filename, what)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise CodeBundleError(f"{what}: entry {info.filename!r} is a symlink")
        total = 0
        for info in infos:
            try:
                # The header's size can lie (a zip bomb): read at most what is left of the limit.
                with archive.open(info) as handle:
                    content = handle.read(MAX_UNZIPPED_BYTES - total + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                raise CodeBundleError(f"{what}: cannot read {info.filename!r}: {exc}") from None
            total += len(content)
            if total > MAX_UNZIPPED_BYTES:
                raise CodeBundleError(_too_big_unzipped(what))
            yield info.filename, content, _mode(info.external_attr >> 16)


def _deterministic_zip(entries: Iterable[tuple[str, bytes, int]], what: str) -> bytes:
    files: dict[str, tuple[bytes, int]] = {}
    for name, content, mode in entries:
        if name in files:
            raise CodeBundleError(f"{what}: entry {name!r} appears twice")
        files[name] = (content, mode)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            content, mode = files[name]
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so that the mode below is honoured
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, content, compresslevel=6)
    return buffer.getvalue()
