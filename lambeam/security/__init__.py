"""Security: access keys, and authenticating requests with them.

    key = create_access_key(db, "admin")                 # key.id "LBAK…", key.secret (40 chars)
    write_credentials_file(credentials_path(settings), key)   # <project>/.lambeam/credentials, 0600
    authenticate_bearer(db, "Bearer LBAK…:secret")       # the REST API (a server: a KeyCache)
    verify_sigv4(db, method, raw_path, query, headers, body)   # the Lambda API (boto3)

    policy = PolicyCache(db).policy_for(key)             # its policy, else its role's
    authorize(policy, key, "lambda:InvokeFunction", function_arn)   # or AccessDeniedError

Every refusal of credentials is an AuthenticationError (HTTP 401) carrying a Lambda error code;
a known key that may not do what it asks gets an AccessDeniedError (403).
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
        ACCESS_DENIED,
        INVALID_SIGNATURE,
        MISSING_AUTHENTICATION_TOKEN,
        UNRECOGNIZED_CLIENT,
        AccessDeniedError,
        AccessKeyError,
        AccessKeyNotFoundError,
        AuthenticationError,
        PolicyError,
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
    from lambeam.security.policy import (
        ACTIONS,
        Policy,
        PolicyCache,
        authorize,
        delete_key_policy,
        effective_policy,
        get_key_policy,
        parse_policy,
        put_key_policy,
        role_policy,
    )
    from lambeam.security.sigv4 import PendingSignature, begin_sigv4, verify_sigv4

__all__ = [
    "ACCESS_DENIED",
    "ACTIONS",
    "CREDENTIALS_FILE",
    "INVALID_SIGNATURE",
    "KEY_ID_PREFIX",
    "MISSING_AUTHENTICATION_TOKEN",
    "PROFILE",
    "ROLES",
    "UNRECOGNIZED_CLIENT",
    "AccessDeniedError",
    "AccessKey",
    "AccessKeyError",
    "AccessKeyNotFoundError",
    "AuthenticationError",
    "KeyCache",
    "PendingSignature",
    "Policy",
    "PolicyCache",
    "PolicyError",
    "authenticate_bearer",
    "authorize",
    "bearer_key_id",
    "begin_sigv4",
    "create_access_key",
    "credentials_path",
    "delete_key_policy",
    "disable_access_key",
    "effective_policy",
    "get_key_policy",
    "get_secret",
    "list_access_keys",
    "parse_policy",
    "put_key_policy",
    "read_credentials_file",
    "role_policy",
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
    "ACCESS_DENIED": "errors",
    "AccessDeniedError": "errors",
    "PolicyError": "errors",
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
    "ACTIONS": "policy",
    "Policy": "policy",
    "PolicyCache": "policy",
    "authorize": "policy",
    "delete_key_policy": "policy",
    "effective_policy": "policy",
    "get_key_policy": "policy",
    "parse_policy": "policy",
    "put_key_policy": "policy",
    "role_policy": "policy",
    "PendingSignature": "sigv4",
    "begin_sigv4": "sigv4",
    "verify_sigv4": "sigv4",
}

__getattr__ = first_use(__name__, _HOMES)
