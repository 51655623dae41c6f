"""The shared ground: metadata database and artifact store."""

from lambeam.storage.artifacts import ArtifactStore, sha256_bytes, sha256_file
from lambeam.storage.database import Database, as_utc, current_user, utcnow

__all__ = [
    "ArtifactStore",
    "Database",
    "as_utc",
    "current_user",
    "sha256_bytes",
    "sha256_file",
    "utcnow",
]
