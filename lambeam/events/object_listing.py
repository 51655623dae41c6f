"""What is under a watched location now: the objects of an `s3://bucket/prefix/` (their S3
ETags) or of a local folder (the MD5 of each file's content, as S3's ETag of a simple PUT).

Files and folders whose name starts with "." are left out (a file being written under a
dot-name and renamed when complete never shows half-written), and so is anything but a regular
file: a symbolic link (it could name a file outside the watched folder), a FIFO (reading it
would wait for a writer), a device (/dev/zero never ends) or a socket.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fsspec.core import url_to_fs

from lambeam.errors import StorageError
from lambeam.storage.failures import S3_CLIENT_CONFIG

__all__ = [
    "Listing",
    "ObjectVersion",
    "list_objects",
    "list_objects_within",
    "object_storage_options",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectVersion:
    """An object as a listing found it: its key (below the bucket), size, ETag and time."""

    key: str
    size: int
    etag: str
    modified: float


@dataclass(frozen=True)
class Listing:
    """What one listing found, and whether it read everything (False: its budget ran out)."""

    objects: list[ObjectVersion]
    complete: bool


def object_storage_options(settings: Any) -> dict[str, Any]:
    """fsspec's options for s3:// locations under `settings` (its S3 endpoint, when set)."""
    options: dict[str, Any] = {"config_kwargs": S3_CLIENT_CONFIG}
    if getattr(settings, "s3_endpoint_url", None):
        options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
    return options


def list_objects(
    location: str,
    storage_options: Mapping[str, Any],
    digests: dict[tuple[str, int, int], str] | None = None,
    *,
    hidden: Callable[[str], bool] | None = None,
) -> list[ObjectVersion]:
    """Every object under `location` now (see `list_objects_within`, here without a budget)."""
    return list_objects_within(location, storage_options, digests, hidden=hidden).objects


def list_objects_within(
    location: str,
    storage_options: Mapping[str, Any],
    digests: dict[tuple[str, int, int], str] | None = None,
    *,
    hidden: Callable[[str], bool] | None = None,
    budget_s: float | None = None,
) -> Listing:
    """The objects under `location` now. A local file's MD5 is kept in `digests` by (path,
    size, mtime), so that a poll reads only new or changed files; once `budget_s` seconds have
    passed no more files are read (the listing is then not `complete`: the next one reads on).
    Only regular files are local objects: symbolic links, FIFOs, devices and sockets are
    skipped, as are dot-names and what `hidden(path)` hides. A folder that does not exist holds
    nothing; an unreachable bucket is a StorageError."""
    if location.startswith("s3://"):
        return Listing(_s3_objects(location, storage_options), True)
    deadline = None if budget_s is None else time.monotonic() + budget_s
    return _local_objects(
        Path(location), {} if digests is None else digests, hidden or _nothing, deadline
    )


def _s3_objects(location: str, options: Mapping[str, Any]) -> list[ObjectVersion]:
    try:
        fs, root = url_to_fs(location, **options)
        fs.invalidate_cache()  # a listing must see what was written since the last poll
        bucket = root.split("/", 1)[0]
        entries = fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:  # botocore's and s3fs's errors, said in one line
        raise StorageError(f"cannot list {location}: {exc}") from exc
    found = []
    for path, info in entries.items():
        if info.get("type") != "file":
            continue
        modified = info.get("LastModified")
        found.append(
            ObjectVersion(
                key=path[len(bucket) + 1 :],
                size=int(info.get("size") or 0),
                etag=str(info.get("ETag", "")).strip('"'),
                modified=modified.timestamp() if isinstance(modified, datetime) else 0.0,
            )
        )
    return found


def _nothing(path: str) -> bool:
    return False


def _local_objects(
    root: Path,
    digests: dict[tuple[str, int, int], str],
    hidden: Callable[[str], bool],
    deadline: float | None,
) -> Listing:
    """Walks with directory descriptors and opens each file below one (O_NOFOLLOW, O_NONBLOCK,
    S_ISREG on its fstat), so a link swapped in on the way is never followed and a FIFO never
    blocks."""
    found = []
    complete = True
    top = str(root)
    try:
        for folder, dirs, files, folder_fd in os.fwalk(top, follow_symlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".") and not hidden(_join(folder, d))]
            for name in files:
                path = _join(folder, name)
                if name.startswith(".") or hidden(path):
                    continue
                try:
                    info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
                    if not stat.S_ISREG(info.st_mode):
                        continue  # a link, FIFO, device or socket
                    cached = digests.get((path, info.st_size, info.st_mtime_ns))
                    if cached is None and deadline is not None and time.monotonic() > deadline:
                        complete = False  # read at the next listing
                        continue
                    info, etag = (info, cached) if cached else _md5(name, folder_fd)
                except OSError:
                    continue  # gone (or replaced by a link) since it was listed
                if etag is None:
                    continue
                digests[(path, info.st_size, info.st_mtime_ns)] = etag
                key = os.path.relpath(path, top).replace(os.sep, "/")
                found.append(ObjectVersion(key, info.st_size, etag, info.st_mtime))
    except (FileNotFoundError, NotADirectoryError):
        pass  # no folder there (yet): it holds nothing
    except OSError:  # not readable now: try again at the next listing
        complete = False
    return Listing(found, complete)


def _join(folder: str, name: str) -> str:
    return os.path.join(folder, name)


def _md5(name: str, folder_fd: int) -> tuple[os.stat_result, str | None]:
    """The file's stat and MD5 as read through one descriptor (None when it is no regular
    file by then)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags, dir_fd=folder_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return info, None
        digest = hashlib.md5(usedforsecurity=False)
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        return info, digest.hexdigest()
    finally:
        os.close(fd)
