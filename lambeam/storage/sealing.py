"""Sealing: secrets and blobs encrypted at rest with AES-256-GCM under the project's master key.

The master key is kept outside the database and the artifact store: `LAMBEAM_MASTER_KEY` (base64
of 32 bytes) when set, else the file <project>/.lambeam/master.key (mode 0600, made on first need).
Whoever copies the database or the bucket without the key gets ciphertext only.

A sealed value names the key that sealed it (a short id derived from the key, not the key) and
carries a random 96-bit nonce; it is bound to where it lives (associated data such as
"access_keys.secret:LBAK…"), so a value copied into another row does not open. Opening with the
wrong key, or a value that was changed, raises an error naming what could not be opened, never
garbage.

    text (database columns):  lbs1:<key id, 8 hex>:<urlsafe base64 of nonce ‖ ciphertext ‖ tag>
    blob (artifacts):         b"LBSEAL1\\n" ‖ key id (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag

Database sessions carry the sealer of their Database (`sealing_for_session`), so code that reads
and writes rows inside `db.session()` reaches it without being handed it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lambeam.config import MASTER_KEY_ENV
from lambeam.errors import MasterKeyError, SealError, StorageError

__all__ = [
    "BLOB_OVERHEAD",
    "MASTER_KEY_FILE",
    "SEALED_TEXT_PREFIX",
    "MasterKey",
    "MasterKeyError",
    "SealError",
    "Sealer",
    "Sealing",
    "current_sealing",
    "is_sealed_blob",
    "is_sealed_text",
    "sealing_for_session",
    "write_private_file",
]

MASTER_KEY_FILE = "master.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID_BYTES = 4
SEALED_TEXT_PREFIX = _TEXT_PREFIX = "lbs1:"
_BLOB_MAGIC = b"LBSEAL1\n"
BLOB_OVERHEAD = len(_BLOB_MAGIC) + _KEY_ID_BYTES + _NONCE_BYTES + _TAG_BYTES


def is_sealed_text(value: object) -> bool:
    """Whether `value` is a sealed text (else a plain value written before sealing)."""
    return isinstance(value, str) and value.startswith(_TEXT_PREFIX)


def is_sealed_blob(data: bytes) -> bool:
    """Whether `data` starts like a sealed blob."""
    return data[: len(_BLOB_MAGIC)] == _BLOB_MAGIC


class MasterKey:
    """Where the master key comes from: a value (LAMBEAM_MASTER_KEY) or a file, read on first need.

    `require(create=True)` makes the file when there is none (sealing something new);
    `require(create=False)` does not (opening something sealed: a new key would not open it).
    """

    def __init__(
        self, *, value: str | None = None, path: Path | None = None, origin: str | None = None
    ) -> None:
        if value is None and path is None:
            raise ValueError("a MasterKey needs a value or a file")
        self.path = path
        self.origin = origin or (MASTER_KEY_ENV if value is not None else str(path))
        self._key: bytes | None = None
        self._value = value
        if value is not None:
            self._key = _decode_key(value, self.origin)

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random key held in memory only (tests, scratch databases)."""
        return cls(value=base64.b64encode(os.urandom(_KEY_BYTES)).decode(), origin="memory")

    def __getstate__(self) -> dict[str, Any]:
        # A file key travels as its path (a Beam worker re-reads it), never as key bytes.
        if self.path is not None and self._value is None:
            return {"path": self.path, "origin": self.origin}
        return {"value": self._value, "origin": self.origin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def where(self) -> str:
        """How a user names this key in an error: the variable, the file, or both."""
        if self.path is None or self._value is not None:
            return self.origin
        return f"{MASTER_KEY_ENV} or {self.path}"

    def require(self, *, create: bool) -> bytes:
        """The key's 32 bytes; MasterKeyError when there is none (and `create` is false)."""
        if self._key is None and self.path is not None:
            self._key = _read_key_file(self.path, create=create)
        if self._key is None:
            raise MasterKeyError(f"there is no master key; set {MASTER_KEY_ENV}")
        return self._key

    @property
    def key_id(self) -> str:
        """A short public id of the key (8 hex digits), to tell keys apart in errors."""
        return _key_id(self.require(create=True)).hex()


class Sealer:
    """Seals and opens values under one master key."""

    def __init__(self, key: MasterKey) -> None:
        self.key = key
        self._derived: dict[str, bytes] = {}

    def derived_key(self, purpose: str) -> bytes | None:
        """A 32-byte key for `purpose` (HKDF-SHA256 of the master key), e.g. the audit log's
        MAC key; None when the master key lives in memory only (a scratch database: what it
        keyed could not be checked by another process)."""
        if self.key.origin == "memory":
            return None
        found = self._derived.get(purpose)
        if found is None:
            hkdf = HKDF(hashes.SHA256(), _KEY_BYTES, None, f"lambeam {purpose}".encode())
            found = self._derived[purpose] = hkdf.derive(self.key.require(create=True))
        return found

    @classmethod
    def ephemeral(cls) -> Sealer:
        """A sealer whose key lives in memory only: what it seals opens only in this process."""
        return cls(MasterKey.generate())

    def seal_text(self, plain: str, context: str) -> str:
        """`plain` sealed for `context` (where it will be stored), as text for a column."""
        key = self.key.require(create=True)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = AESGCM(key).encrypt(nonce, plain.encode(), context.encode())
        token = base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")
        return f"{_TEXT_PREFIX}{_key_id(key).hex()}:{token}"

    def open_text(self, sealed: str, context: str, what: str) -> str:
        """The plain text of `sealed`; SealError or MasterKeyError naming `what` if it won't open."""
        try:
            key_hex, token = sealed[len(_TEXT_PREFIX) :].split(":", 1)
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            key_id = bytes.fromhex(key_hex)
        except (ValueError, binascii.Error):
            raise SealError(f"cannot open {what}: its sealed form is malformed") from None
        return self._open(key_id, raw, context, what).decode()

    def seal_blob(self, data: bytes, context: str) -> bytes:
        """`data` sealed for `context`, as bytes to store."""
        key = self.key.require(create=True)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = AESGCM(key).encrypt(nonce, data, context.encode())
        return _BLOB_MAGIC + _key_id(key) + nonce + body

    def open_blob(self, data: bytes, context: str, what: str) -> bytes:
        """The plain bytes of a sealed blob; SealError or MasterKeyError naming `what`."""
        start = len(_BLOB_MAGIC)
        key_id = data[start : start + _KEY_ID_BYTES]
        return self._open(key_id, data[start + _KEY_ID_BYTES :], context, what)

    def _open(self, key_id: bytes, raw: bytes, context: str, what: str) -> bytes:
        try:
            key = self.key.require(create=False)
        except MasterKeyError as exc:
            raise MasterKeyError(f"cannot open {what}: it is sealed, and {exc}") from None
        if key_id != _key_id(key):
            raise SealError(
                f"cannot open {what}: it was sealed with master key {key_id.hex()}, but the key"
                f" in use ({self.key.where()}) is {_key_id(key).hex()}; restore the key it was"
                " sealed with"
            )
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SealError(f"cannot open {what}: its sealed form is truncated")
        try:
            return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise SealError(
                f"cannot open {what}: it does not authenticate under master key"
                f" {_key_id(key).hex()}: it was changed, or copied from another place"
            ) from None


class Sealing:
    """A session's use of a sealer: it reuses the sealed form of a value it opened.

    Writing back a value unchanged then stores the same bytes (a publish that changes nothing
    compares equal, an unchanged row stays unchanged) without ever reusing a nonce for new text.
    """

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self._opened: dict[tuple[str, str], str] = {}

    def seal_text(self, plain: str, context: str) -> str:
        """`plain` sealed for `context` (the form it was read in, when it was read unchanged)."""
        found = self._opened.get((context, plain))
        return found if found is not None else self.sealer.seal_text(plain, context)

    def open_text(self, sealed: str, context: str, what: str) -> str:
        """The plain text of `sealed`, remembered for `seal_text`."""
        plain = self.sealer.open_text(sealed, context, what)
        self._opened[(context, plain)] = sealed
        return plain


_current: ContextVar[Sealing | None] = ContextVar("lambeam_sealing", default=None)


@contextlib.contextmanager
def sealing_for_session(sealer: Sealer) -> Iterator[Sealing]:
    """Make `sealer` the one `current_sealing` answers inside the block (a database session)."""
    sealing = Sealing(sealer)
    token = _current.set(sealing)
    try:
        yield sealing
    finally:
        _current.reset(token)


def current_sealing() -> Sealing:
    """The sealing of the database session this code runs in."""
    sealing = _current.get()
    if sealing is None:
        raise StorageError(
            "sealed values are read and written inside a database session (db.session()),"
            " which carries the project's master key"
        )
    return sealing


def write_private_file(path: Path, data: bytes, *, replace: bool = True) -> bool:
    """Write `data` to `path` with mode 0600 from its first byte, whole or not at all.

    The file is made under a temporary name and moved into place. With `replace=False` an existing
    file is kept (a hard link does not overwrite) and False is returned: two processes making the
    same key file at once both end up with the one that won.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        with os.fdopen(os.open(temporary, flags, 0o600), "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"lambeam master key id\n" + key).digest()[:_KEY_ID_BYTES]


def _decode_key(value: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != _KEY_BYTES:
        raise MasterKeyError(
            f"{origin} is not a master key: it must be the base64 of {_KEY_BYTES} random bytes"
            ' (make one with: python -c "import os, base64;'
            ' print(base64.b64encode(os.urandom(32)).decode())")'
        )
    return key


def _read_key_file(path: Path, *, create: bool) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        if not create:
            raise MasterKeyError(
                f"there is no master key: {MASTER_KEY_ENV} is not set and {path} does not exist;"
                f" set {MASTER_KEY_ENV} or restore {path}"
            ) from None
        value = base64.b64encode(os.urandom(_KEY_BYTES)) + b"\n"
        write_private_file(path, value, replace=False)  # another process may have won: read it
        info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise MasterKeyError(f"{path} is not a regular file; it should hold the master key")
    if info.st_mode & 0o077:
        raise MasterKeyError(
            f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); the master key"
            f" must be private: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"cannot read the master key in {path}: {exc}") from None
    return _decode_key(text, str(path))
