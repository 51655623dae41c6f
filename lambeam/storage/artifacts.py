"""The artifact store: immutable blobs addressed by their sha256, on any fsspec filesystem.

Layout under the store's location:

    objects/ab/abcdef…    one file per blob, named by the sha256 of its bytes
    runs/<run id>/…       scratch space of a running job; never referenced by metadata

A blob is written under its final name only once its bytes are complete (an atomic rename on a
local folder, a single PUT on S3), and every read hashes what it got before handing it over, so
nothing half-written or corrupted is ever returned. With a `sealer` (a project's `[artifacts]
encrypt = true` or LAMBEAM_ARTIFACTS_ENCRYPT=1) each blob is stored sealed (AES-256-GCM, bound
to its digest) while its address stays the sha256 of its plain bytes, so identical content is
still stored once; a read opens it, then checks the hash. Blobs stored plain before encryption was
turned on still read, and a sealed blob reads even after it is turned off (when the key is set).
Every call that reaches the store raises a
one-line StorageError naming the store and what to check (storage/failures.py), never fsspec's or
botocore's own exceptions.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from lambeam.errors import ArtifactIntegrityError, StorageError
from lambeam.storage.failures import S3_CLIENT_CONFIG, StoreFailure, store_failures
from lambeam.storage.sealing import BLOB_OVERHEAD, Sealer, SealError, is_sealed_blob

__all__ = ["ArtifactStore", "sha256_bytes", "sha256_file"]

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], fs: Any = None) -> str:
    """The hex sha256 of a file, read in chunks (local, or on `fs` when given)."""
    digest = hashlib.sha256()
    opener = fs.open if fs is not None else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Content-addressed blobs under `location`: a folder, or a URL such as s3://bucket/prefix."""

    def __init__(
        self,
        location: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        sealer: Sealer | None = None,
        encrypt: bool = False,
    ) -> None:
        if encrypt and sealer is None:
            raise ValueError("an encrypting artifact store needs a sealer")
        self.location = location.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.sealer = sealer
        self.encrypt = encrypt
        self._fs: Any = None
        self._root = ""
        endpoint = self.storage_options.get("client_kwargs", {}).get("endpoint_url")
        self._where = StoreFailure(self.location, endpoint)

    @classmethod
    def from_settings(cls, settings: Any, sealer: Sealer | None = None) -> ArtifactStore:
        """The store a project's settings name, with the S3 endpoint applied when set.

        `sealer` opens sealed blobs, and seals new ones when the settings say `artifacts_encrypt`.
        """
        options: dict[str, Any] = {}
        if settings.artifacts.startswith("s3://"):
            options["config_kwargs"] = S3_CLIENT_CONFIG
            if settings.s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
        encrypt = bool(getattr(settings, "artifacts_encrypt", False)) and sealer is not None
        return cls(settings.artifacts, options, sealer=sealer, encrypt=encrypt)

    # The filesystem is opened lazily so a store pickles cleanly into Beam workers (a key kept
    # in a file travels as its path: see MasterKey).
    def __getstate__(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "storage_options": self.storage_options,
            "sealer": self.sealer,
            "encrypt": self.encrypt,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["location"],
            state["storage_options"],
            sealer=state.get("sealer"),
            encrypt=state.get("encrypt", False),
        )

    @property
    def fs(self) -> Any:
        if self._fs is None:
            with store_failures(self._where, "open it"):
                fs, root = url_to_fs(self.location, **self.storage_options)
                if self.is_local:
                    fs.makedirs(root, exist_ok=True)
            self._fs, self._root = fs, root
        return self._fs

    @property
    def is_local(self) -> bool:
        return "://" not in self.location or self.location.startswith("file://")

    def _path(self, digest: str) -> str:
        _check_digest(digest)
        self.fs  # noqa: B018 - resolves the root
        return f"{self._root}/objects/{digest[:2]}/{digest}"

    def url(self, digest: str) -> str:
        """A URL for the blob that fsspec (and so pandas or pyarrow) can open."""
        path = self._path(digest)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        path = self._path(digest)
        with store_failures(self._where, f"look up artifact {digest[:12]}"):
            return bool(self.fs.exists(path))

    def put_bytes(self, data: bytes) -> str:
        """Store `data`; returns its sha256. Storing the same bytes twice is a no-op."""
        digest = sha256_bytes(data)
        path = self._path(digest)
        with store_failures(self._where, f"write artifact {digest[:12]}"):
            if self.fs.exists(path):
                return digest
            if self.encrypt and self.sealer is not None:
                data = self.sealer.seal_blob(data, _context(digest))
            if self.is_local:
                self._write_local_atomically(path, data)
            else:
                # One PUT: the object appears whole or not at all.
                self.fs.pipe_file(path, data)
        return digest

    def put_file(self, source: str | os.PathLike[str]) -> str:
        """Store a local file's content; returns its sha256."""
        return self.put_bytes(Path(source).read_bytes())

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, verified against its digest."""
        path = self._path(digest)
        with store_failures(self._where, f"read artifact {digest[:12]}"):
            try:
                data = self.fs.cat_file(path)
            except FileNotFoundError as exc:
                if self._where.is_missing_bucket(exc):
                    raise
                raise StorageError(f"artifact {digest} is missing from {self.location}") from None
        if is_sealed_blob(data):
            data = self._open(digest, data)
        actual = sha256_bytes(data)
        if actual != digest:
            raise ArtifactIntegrityError(
                f"artifact {digest} in {self.location} is corrupted: its content hashes to {actual}"
            )
        return data

    def size(self, digest: str) -> int:
        """The size in bytes of the blob's content (what `get_bytes` returns), without reading it.

        A sealed blob is BLOB_OVERHEAD bytes larger than its content.
        """
        path = self._path(digest)
        with store_failures(self._where, f"look up artifact {digest[:12]}"):
            stored = int(self.fs.size(path))
            if stored < BLOB_OVERHEAD:
                return stored
            with self.fs.open(path, "rb") as handle:
                head = handle.read(BLOB_OVERHEAD)
        return stored - BLOB_OVERHEAD if is_sealed_blob(head) else stored

    def _open(self, digest: str, data: bytes) -> bytes:
        what = f"artifact {digest} in {self.location}"
        if self.sealer is None:
            if sha256_bytes(data) == digest:
                return data  # plain bytes that happen to start like a sealed blob
            raise SealError(
                f"cannot open {what}: it is encrypted, and this store was opened without the"
                " master key"
            )
        try:
            return self.sealer.open_blob(data, _context(digest), what)
        except SealError:
            if sha256_bytes(data) == digest:
                return data
            raise

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy the blob to a local file, verified; `dest` appears only once it is complete."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._write_local_atomically(str(dest), self.get_bytes(digest))
        return dest

    def failures_of(self, location: str, what: str) -> StoreFailure:
        """How to word a failure of another location reached with this store's options."""
        return StoreFailure(location, self._where.endpoint_url, what)

    def scratch(self, run_id: str | None = None) -> str:
        """A fresh scratch location (same filesystem) for a job's intermediate files.

        It is created at once (a small marker file), so a store that cannot be written fails
        here, before a job spends any time.
        """
        run_id = run_id or uuid.uuid4().hex
        location = f"{self.location}/runs/{run_id}"
        with store_failures(self._where, "create a scratch location"):
            fs, path = url_to_fs(location, **self.storage_options)
            if self.is_local:  # on S3 makedirs would create a missing bucket
                fs.makedirs(path, exist_ok=True)
            fs.pipe_file(f"{path}/.started", b"")
        return location

    def remove_scratch(self, scratch: str) -> None:
        """Delete a scratch location and everything under it."""
        with store_failures(self._where, "remove a scratch location"):
            fs, path = url_to_fs(scratch, **self.storage_options)
            if fs.exists(path):
                fs.rm(path, recursive=True)

    @contextmanager
    def open_scratch(self, url: str, mode: str = "rb") -> Iterator[Any]:
        """Open a file under a scratch location, for a `with` block (closed at its end)."""
        action = f"{'read' if 'r' in mode else 'write'} {url}"
        with (
            store_failures(self._where, action),
            fsspec.open(url, mode, **self.storage_options) as handle,
        ):
            yield handle

    @staticmethod
    def _write_local_atomically(path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def _context(digest: str) -> str:
    # Bound to its address: a sealed blob copied over another address does not open.
    return f"artifact:{digest}"


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise StorageError(f"{digest!r} is not a sha256 digest")
