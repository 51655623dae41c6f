"""The credentials file `lambeam init` writes: <project>/.lambeam/credentials, mode 0600.

It is an AWS shared-credentials file with one profile, `lambeam`, so boto3 and the AWS CLI read it
unchanged (and so it holds the secret in plain text, protected by its mode like ~/.aws/credentials;
the copy in the database is sealed):

    AWS_SHARED_CREDENTIALS_FILE=<project>/.lambeam/credentials AWS_PROFILE=lambeam aws lambda …
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import TYPE_CHECKING

from lambeam.config import Settings

if TYPE_CHECKING:
    from lambeam.security.keys import AccessKey

__all__ = [
    "CREDENTIALS_FILE",
    "PROFILE",
    "credentials_path",
    "read_credentials_file",
    "write_credentials_file",
]

CREDENTIALS_FILE = "credentials"
PROFILE = "lambeam"


def credentials_path(settings: Settings) -> Path:
    """Where a project's credentials file lives: <project>/.lambeam/credentials."""
    return settings.state_dir / CREDENTIALS_FILE


def write_credentials_file(path: Path, key: AccessKey) -> Path:
    """Write `key`'s id and secret to `path` as profile [lambeam], readable by its owner only.

    The file is created with mode 0600 under a temporary name and renamed into place, so it is never
    readable by others, not even for a moment, and a reader never sees half a file.
    """
    if key.secret is None:
        raise ValueError("write_credentials_file needs the AccessKey create_access_key returned")
    text = (
        f"# lambeam access key {key.name!r} (role {key.role}). Keep this file private.\n"
        f"# boto3: AWS_SHARED_CREDENTIALS_FILE={path}, profile_name={PROFILE!r}, any region_name\n"
        f"[{PROFILE}]\n"
        f"aws_access_key_id = {key.id}\n"
        f"aws_secret_access_key = {key.secret}\n"
    )
    # Imported here: reading the file (`lambeam invoke`, every call) must not load the storage
    # layer (SQLAlchemy, cryptography: 0.3 s of a 0.3 s command).
    from lambeam.storage.sealing import write_private_file

    write_private_file(path, text.encode())
    return path


def read_credentials_file(path: Path) -> tuple[str, str] | None:
    """The key id and secret of profile [lambeam] in `path`; None when the file is missing or
    does not hold them."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error):
        return None
    if not parser.has_section(PROFILE):
        return None
    key_id = parser[PROFILE].get("aws_access_key_id", "").strip()
    secret = parser[PROFILE].get("aws_secret_access_key", "").strip()
    return (key_id, secret) if key_id and secret else None
