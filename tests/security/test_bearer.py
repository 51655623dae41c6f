"""`Authorization: Bearer <key id>:<secret>` for the REST API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lambeam.security import (
    MISSING_AUTHENTICATION_TOKEN,
    AuthenticationError,
    KeyCache,
    authenticate_bearer,
    bearer_key_id,
    create_access_key,
    disable_access_key,
    list_access_keys,
)
from lambeam.storage import Database, utcnow


def test_right_token_is_accepted_and_use_recorded(db: Database) -> None:
    key = create_access_key(db, "admin")
    now = utcnow()
    found = authenticate_bearer(db, f"Bearer {key.id}:{key.secret}", now=now)
    assert (found.id, found.role, found.secret) == (key.id, "admin", None)
    assert list_access_keys(db)[0].last_used_at == now
    # Within a minute the record is not rewritten; after it, it is.
    authenticate_bearer(db, f"bearer {key.id}:{key.secret}", now=now + timedelta(seconds=30))
    assert list_access_keys(db)[0].last_used_at == now
    later = now + timedelta(minutes=2)
    authenticate_bearer(db, f"Bearer {key.id}:{key.secret}", now=later)
    assert list_access_keys(db)[0].last_used_at == later


def test_missing_header_asks_for_credentials(db: Database) -> None:
    for header in (None, "", "   "):
        with pytest.raises(AuthenticationError, match="credentials are required") as caught:
            authenticate_bearer(db, header)
        assert caught.value.http_status == 401
        assert caught.value.error_code == MISSING_AUTHENTICATION_TOKEN


def test_wrong_credentials_do_not_say_which_part(db: Database) -> None:
    key = create_access_key(db, "admin")
    other = create_access_key(db, "other")
    messages = set()
    for header in (
        f"Bearer {key.id}:{other.secret}",  # another key's secret
        f"Bearer {key.id}:{(key.secret or '')[:-1]}",  # one character short
        f"Bearer LBAKUNKNOWNKEY000000:{key.secret}",  # unknown id
    ):
        with pytest.raises(AuthenticationError) as caught:
            authenticate_bearer(db, header)
        assert caught.value.http_status == 401
        messages.add(str(caught.value))
    assert len(messages) == 1
    assert key.secret not in messages.pop()


def test_malformed_header_is_refused(db: Database) -> None:
    for header in ("Basic abc", "Bearer", "Bearer nocolon", "Bearer :secret", "Bearer id:"):
        with pytest.raises(AuthenticationError, match="malformed"):
            authenticate_bearer(db, header)


def test_disabled_key_is_refused(db: Database) -> None:
    key = create_access_key(db, "admin")
    disable_access_key(db, key.id)
    with pytest.raises(AuthenticationError, match="invalid credentials"):
        authenticate_bearer(db, f"Bearer {key.id}:{key.secret}")


def test_a_servers_key_cache_reads_once_a_second_and_sees_a_disabled_key_after(
    db: Database,
) -> None:
    key = create_access_key(db, "ci")
    now = [100.0]
    cache = KeyCache(db, ttl_s=1.0, clock=lambda: now[0])
    header = f"Bearer {key.id}:{key.secret}"
    assert not cache.fresh(key.id)
    assert authenticate_bearer(cache, header).id == key.id
    assert cache.fresh(key.id)  # the next request needs no database read
    disable_access_key(db, key.id)
    assert authenticate_bearer(cache, header).id == key.id  # still within its second
    now[0] += 1.0
    assert not cache.fresh(key.id)
    with pytest.raises(AuthenticationError):
        authenticate_bearer(cache, header)
    # An unknown id is remembered as unknown for the second as well.
    with pytest.raises(AuthenticationError):
        authenticate_bearer(cache, f"Bearer LBAKNOSUCHKEY0000000:{key.secret}")
    assert cache.fresh("LBAKNOSUCHKEY0000000")
    assert bearer_key_id(header) == key.id and bearer_key_id(None) == ""
