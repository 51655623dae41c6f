"""Where a local object trigger may look, and the resource a key is authorized on for it.

A folder is resolved first (symlinks and `..` followed to the real place), then it must lie
under the project root (the allow-list, `FolderRules.allowed`) and must be neither inside nor
equal to any of the project's private paths (Settings.private_paths: the `.lambeam` state
folder, the SQLite database with its journal files, a local artifact folder). A folder that
holds a private path (the project root holds `.lambeam`) may be watched: the listing leaves the
private paths out (and every dot-name).

    rules = FolderRules.from_settings(settings)
    folder = rules.check(Path("/srv/proj/incoming"))       # the resolved folder, or ConfigError
    location_arn("s3://raw/in/", root)                      # arn:aws:s3:::raw
    location_arn("incoming", root)                          # arn:lambeam:folder:::/srv/proj/incoming

Keys are authorized on arn:aws:s3:::BUCKET for an s3:// location (S3's bucket notification
actions name the bucket) and on arn:lambeam:folder:::/RESOLVED/PATH for a folder, so a grant on
buckets never reaches the server's file system, and a folder's grant names its real place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambeam.errors import ConfigError

__all__ = ["FOLDER_ARN_PREFIX", "FolderRules", "location_arn", "resolved_folder"]

FOLDER_ARN_PREFIX = "arn:lambeam:folder:::"


def resolved_folder(location: str, root: Path) -> Path:
    """The real folder `location` (absolute, or relative to `root`; file:// allowed) names:
    symlinks and `..` resolved."""
    path = Path(location.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = root / path
    return path.resolve()


def location_arn(location: str, root: Path) -> str:
    """The resource a key needs for a trigger on `location`: arn:aws:s3:::BUCKET for
    s3://BUCKET/..., arn:lambeam:folder:::/REAL/PATH for a folder (relative to `root`)."""
    if location.startswith("s3://"):
        bucket = location[5:].split("/", 1)[0]
        return f"arn:aws:s3:::{bucket}" if bucket else "*"
    return FOLDER_ARN_PREFIX + resolved_folder(location, root).as_posix()


@dataclass(frozen=True)
class FolderRules:
    """The folders local triggers may watch (under one of `allowed`) and the paths they never
    see (`private`), all resolved."""

    allowed: tuple[Path, ...]
    private: tuple[Path, ...]

    @classmethod
    def from_settings(cls, settings: Any, allowed: Iterable[Path] | None = None) -> FolderRules:
        """The rules of a project: under its root (or `allowed`), never its private paths."""
        roots = (settings.root,) if allowed is None else tuple(allowed)
        return cls(
            tuple(Path(r).resolve() for r in roots),
            tuple(Path(p).resolve() for p in settings.private_paths),
        )

    def check(self, folder: Path) -> Path:
        """`folder` resolved, when a trigger may watch it; ConfigError saying why not."""
        real = folder.resolve()
        for private in self.private:
            if real == private or private in real.parents:
                raise ConfigError(
                    f"an object trigger may not watch {real}: it is inside the project's private"
                    f" {private} (its state, database or artifacts)"
                )
        if not any(real == root or root in real.parents for root in self.allowed):
            where = ", ".join(str(r) for r in self.allowed)
            raise ConfigError(
                f"an object trigger may only watch a folder under {where}; {real} is not"
                " (symlinks resolved)"
            )
        return real

    def hidden(self, path: str) -> bool:
        """Whether the listing must leave `path` (a real path under a watched folder) out."""
        here = Path(path)
        return any(here == p for p in self.private)
