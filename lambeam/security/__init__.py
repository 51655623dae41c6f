"""Security: access keys, and authenticating requests with them.

    key = create_access_key(db, "admin")                 # key.id "LBAK…", key.secret (40 chars)
    write_credentials_file(credentials_path(settings), key)   # <project>/.lambeam/credentials, 0600
    authenticate_bearer(db, "Bearer LBAK…:secret")       # the REST API (a server: a KeyCache)
    verify_sigv4(db, method, raw_path, query, headers, body)   # the Lambda API (boto3)

Every refusal is an AuthenticationError (HTTP 401) carrying a Lambda error code.
"""

from lambeam.security.bearer import authenticate_bearer, bearer_key_id
from lambeam.security.credentials_file import (
    CREDENTIALS_FILE,
    PROFILE,
    credentials_path,
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
    "verify_sigv4",
    "write_credentials_file",
]
