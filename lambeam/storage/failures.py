"""What a failing artifact store means to its user: fsspec, s3fs and botocore errors as one line.

A store that cannot be reached raises deep inside aiobotocore (100+ frames); `store_failures`
turns the ones a user can fix (endpoint down, no credentials, access denied, bucket missing)
into a StorageError naming the store and what to check. Errors are matched by class name along
the exception's chain, so a local store never imports botocore to classify its own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lambeam.errors import LambeamError, StorageError

__all__ = ["S3_CLIENT_CONFIG", "StoreFailure", "store_failures"]

# botocore's legacy retries wait ~15 s for a refused connection and 5 x 60 s for a host that
# does not answer; three attempts in standard mode (backoff under 3 s) and 5 s to connect
# keep a dead endpoint a matter of seconds, for the user and for the tests.
S3_CLIENT_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 60,
    "retries": {"mode": "standard", "total_max_attempts": 3},
}

_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ProxyConnectionError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ReadTimeoutError",
}
_DENIED_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")


class StoreFailure:
    """Where a store is, for its error messages: what it is, its location, its endpoint."""

    def __init__(
        self, location: str, endpoint_url: str | None = None, what: str = "artifact store"
    ) -> None:
        self.location = location
        self.endpoint_url = endpoint_url
        self.what = what

    @property
    def _endpoint(self) -> str:
        return self.endpoint_url or "AWS's endpoint (no LAMBEAM_S3_ENDPOINT_URL set)"

    @property
    def _bucket(self) -> str:
        return self.location.split("://", 1)[-1].split("/", 1)[0]

    def translate(self, exc: BaseException, action: str) -> StorageError | None:
        """The one-line StorageError for `exc`, or None when it is no store failure."""
        chain = _chain(exc)
        names = {cls.__name__ for error in chain for cls in type(error).__mro__}
        text = " ".join(str(error) for error in chain)
        where = f"{self.what} {self.location}: cannot {action}"
        if "://" not in self.location or self.location.startswith("file://"):
            if isinstance(exc, OSError):
                return StorageError(
                    f"{where}: {exc.strerror or exc}; check the folder and its permissions"
                )
            return None
        if names & _CREDENTIALS:
            return StorageError(
                f"{where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or ~/.aws/credentials)"
            )
        if names & _UNREACHABLE:
            return StorageError(
                f"{where}: S3 at {self._endpoint} does not answer; check "
                "LAMBEAM_S3_ENDPOINT_URL and that the server is up and reachable"
            )
        if "PermissionError" in names or any(code in text for code in _DENIED_CODES):
            return StorageError(
                f"{where}: access denied; check that the credentials (AWS_ACCESS_KEY_ID, "
                f"AWS_PROFILE) are valid and may read and write bucket {self._bucket!r}"
            )
        if "NoSuchBucket" in text or "bucket does not exist" in text:
            return StorageError(f"{where}: {self.missing_bucket()}")
        if "ClientError" in names or "BotoCoreError" in names:
            last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
            return StorageError(f"{where}: {last[0][:300]}")
        return None

    def missing_bucket(self) -> str:
        """What to say when the store's bucket does not exist."""
        return f"bucket {self._bucket!r} does not exist at {self._endpoint}; create it, " + (
            "or point LAMBEAM_ARTIFACTS at an existing one"
            if self.what == "artifact store"
            else f"or correct the {self.what}'s path"
        )

    def is_missing_bucket(self, exc: BaseException) -> bool:
        """Whether a FileNotFoundError is about the bucket rather than one object."""
        text = " ".join(str(error) for error in _chain(exc))
        return "NoSuchBucket" in text or "bucket does not exist" in text


@contextmanager
def store_failures(where: StoreFailure, action: str) -> Iterator[None]:
    """Run the block; a store failure in it is re-raised as a one-line StorageError."""
    try:
        yield
    except LambeamError:
        raise
    except Exception as exc:
        error = where.translate(exc, action)
        if error is None:
            raise
        raise error from exc


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
