"""Security: access keys, and authenticating requests with them.

    key = create_access_key(db, "admin")                 # key.id "LBAK…", key.secret (40 chars)
    write_credentials_file(credentials_path(settings), key)   # <project>/.lambeam/credentials, 0600
    authenticate_bearer(db, "Bearer LBAK…:secret")       # the REST API (a server: a KeyCache)
    verify_sigv4(db, method, raw_path, query, headers, body)   # the Lambda API (boto3)

Every refusal is an AuthenticationError (HTTP 401) carrying a Lambda error code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambeam._lazy import first_use

if TYPE_CHECKING:
    from lambeam.security.bearer import authenticate_bearer, bearer_key_id
    from lambeam.security.credentials_file import (
        CREDENTIALS_FILE,
        PROFILE,
        credentials_path,
        read_credentials_file,
        write_credentials_file,
    )
    from lambeam.security.errors import (
        INVALID_SIGNATURE,
        MISSING_AUTHENTICATION_TOKEN,
        UNRECOGNIZED_CLIENT,
        AccessKeyError,
        AccessKeyNotFoundError,
        AuthenticationError,
    )
    from lambeam.security.keys import (
        KEY_ID_PREFIX,
        ROLES,
        AccessKey,
        KeyCache,
        create_access_key,
        disable_access_key,
        get_secret,
        list_access_keys,
    )
    from lambeam.security.sigv4 import verify_sigv4

__all__ = [
    "CREDENTIALS_FILE",
    "INVALID_SIGNATURE",
    "KEY_ID_PREFIX",
    "MISSING_AUTHENTICATION_TOKEN",
    "PROFILE",
    "ROLES",
    "UNRECOGNIZED_CLIENT",
    "AccessKey",
    "AccessKeyError",
    "AccessKeyNotFoundError",
    "AuthenticationError",
    "KeyCache",
    "authenticate_bearer",
    "bearer_key_id",
    "create_access_key",
    "credentials_path",
    "disable_access_key",
    "get_secret",
    "list_access_keys",
    "read_credentials_file",
    "verify_sigv4",
    "write_credentials_file",
]

# Imported on first use: the keys bring SQLAlchemy and sigv4 botocore, which reading the
# credentials file (all `lambeam invoke` needs of this package) does without.
_HOMES = {
    "authenticate_bearer": "bearer",
    "bearer_key_id": "bearer",
    "CREDENTIALS_FILE": "credentials_file",
    "PROFILE": "credentials_file",
    "credentials_path": "credentials_file",
    "read_credentials_file": "credentials_file",
    "write_credentials_file": "credentials_file",
    "INVALID_SIGNATURE": "errors",
    "MISSING_AUTHENTICATION_TOKEN": "errors",
    "UNRECOGNIZED_CLIENT": "errors",
    "AccessKeyError": "errors",
    "AccessKeyNotFoundError": "errors",
    "AuthenticationError": "errors",
    "KEY_ID_PREFIX": "keys",
    "ROLES": "keys",
    "AccessKey": "keys",
    "KeyCache": "keys",
    "create_access_key": "keys",
    "disable_access_key": "keys",
    "get_secret": "keys",
    "list_access_keys": "keys",
    "verify_sigv4": "sigv4",
}

__getattr__ = first_use(__name__, _HOMES)
