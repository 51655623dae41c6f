"""Bearer authentication for the REST API.

The token is the key id and its secret joined by a colon:

    Authorization: Bearer LBAKXXXXXXXXXXXXXXXX:<40-character secret>
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from lambeam.security.errors import MISSING_AUTHENTICATION_TOKEN, AuthenticationError
from lambeam.security.keys import AccessKey, KeyCache, key_cache
from lambeam.storage import Database, utcnow

__all__ = ["authenticate_bearer", "bearer_key_id"]

_INVALID = "invalid credentials: the bearer token is not an enabled access key and its secret"
# Compared against when the key id is unknown, so an unknown id costs about what a wrong secret does.
_DUMMY_SECRET = "0" * 40


def authenticate_bearer(
    keys: Database | KeyCache, authorization_header: str | None, now: datetime | None = None
) -> AccessKey:
    """The enabled access key named by `Authorization: Bearer <key id>:<secret>`, or a 401 error.

    `keys` is the database, or a server's KeyCache of it. A refusal never says whether the id,
    the secret or the key's state was wrong.
    """
    if not authorization_header or not authorization_header.strip():
        raise AuthenticationError(
            "credentials are required: send `Authorization: Bearer <key id>:<secret>`",
            MISSING_AUTHENTICATION_TOKEN,
        )
    scheme, _, token = authorization_header.strip().partition(" ")
    key_id, colon, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not colon or not key_id or not secret:
        raise AuthenticationError(
            "malformed Authorization header: expected `Bearer <key id>:<secret>`"
        )
    cache = key_cache(keys)
    known = cache.passed(authorization_header)
    if known is not None:
        return known
    found = cache.find(key_id)
    expected = found[1] if found else _DUMMY_SECRET
    matches = hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8"))
    if found is None or not matches or not found[0].enabled:
        raise AuthenticationError(_INVALID)
    key = found[0]
    now = now or utcnow()
    cache.touch(key, now if now.tzinfo else now.replace(tzinfo=UTC))
    cache.remember(authorization_header, key)
    return key


def bearer_key_id(authorization_header: str | None) -> str:
    """The key id an Authorization header names ("" when it names none)."""
    _scheme, _, token = (authorization_header or "").strip().partition(" ")
    return token.strip().partition(":")[0]
