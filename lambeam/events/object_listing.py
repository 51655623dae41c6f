"""What is under a watched location now: the objects of an `s3://bucket/prefix/` (their S3
ETags) or of a local folder (the MD5 of each file's content, as S3's ETag of a simple PUT).

Files and folders whose name starts with "." are left out (a file being written under a
dot-name and renamed when complete never shows half-written).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fsspec.core import url_to_fs

from lambeam.errors import StorageError
from lambeam.storage.failures import S3_CLIENT_CONFIG

__all__ = ["ObjectVersion", "list_objects", "object_storage_options"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectVersion:
    """An object as a listing found it: its key (below the bucket), size, ETag and time."""

    key: str
    size: int
    etag: str
    modified: float


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
) -> list[ObjectVersion]:
    """Every object under `location` now. A local file's MD5 is kept in `digests` by (path,
    size, mtime), so that a poll reads only new or changed files. A folder that does not exist
    holds nothing; an unreachable bucket is a StorageError."""
    if location.startswith("s3://"):
        return _s3_objects(location, storage_options)
    return _local_objects(Path(location), {} if digests is None else digests)


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


def _local_objects(root: Path, digests: dict[tuple[str, int, int], str]) -> list[ObjectVersion]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
                cached = (str(path), stat.st_size, stat.st_mtime_ns)
                etag = digests.get(cached) or _md5(path)
            except OSError:
                continue  # gone since it was listed
            digests[cached] = etag
            found.append(
                ObjectVersion(path.relative_to(root).as_posix(), stat.st_size, etag, stat.st_mtime)
            )
    return found


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
