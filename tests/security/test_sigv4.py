"""Signature V4 on the Lambda API: requests signed by an unmodified boto3 `lambda` client."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest

from lambeam.security import (
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    UNRECOGNIZED_CLIENT,
    AccessKey,
    AuthenticationError,
    create_access_key,
    disable_access_key,
    list_access_keys,
    verify_sigv4,
)
from lambeam.storage import Database
from tests.security.boto_capture import Captured, capture, presign


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


CALLS: dict[str, Any] = {
    "invoke": lambda c: c.invoke(
        FunctionName="churn", Qualifier="prod", Payload=json.dumps({"instances": [{"amount": 3.5}]})
    ),
    "invoke_arn": lambda c: c.invoke(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:churn:7",
        Payload=b'{"x": [1, 2, "\\u00e9"]}',
        LogType="Tail",
    ),
    "list_functions": lambda c: c.list_functions(MaxItems=5, Marker="next page/2"),
    "create_function": lambda c: c.create_function(
        FunctionName="echo",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"A": "1"}},
    ),
}


def _verify(db: Database, request: Captured, **overrides: Any) -> AccessKey:
    args: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query_string": request.query_string,
        "headers": request.headers,
        "body": request.body,
        "now": request.signed_at,
    }
    args.update(overrides)
    return verify_sigv4(db, **args)


def _refused(
    db: Database, request: Captured, code: str, match: str | None = None, **overrides: Any
) -> None:
    with pytest.raises(AuthenticationError, match=match) as caught:
        _verify(db, request, **overrides)
    assert caught.value.http_status == 401
    assert caught.value.error_code == code


@pytest.fixture
def key(db: Database) -> AccessKey:
    return create_access_key(db, "admin")


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_boto3_requests_are_accepted(db: Database, key: AccessKey, operation: str) -> None:
    request = capture(key.id, key.secret or "", CALLS[operation])
    found = _verify(db, request)
    assert (found.id, found.role) == (key.id, "admin")
    assert list_access_keys(db)[0].last_used_at == request.signed_at
    # Header names arrive in whatever case the server's HTTP stack gives them.
    lowered = {name.lower(): value for name, value in request.headers.items()}
    assert _verify(db, request, headers=lowered).id == key.id


def test_wrong_secret_is_refused(db: Database, key: AccessKey) -> None:
    for operation in sorted(CALLS):
        request = capture(key.id, "x" * 40, CALLS[operation])
        _refused(db, request, INVALID_SIGNATURE, "signature we calculated does not match")


def test_unknown_key_id_is_refused(db: Database, key: AccessKey) -> None:
    request = capture("LBAKUNKNOWNKEY000000", key.secret or "", CALLS["invoke"])
    _refused(db, request, UNRECOGNIZED_CLIENT, "security token included in the request is invalid")


def test_disabled_key_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    disable_access_key(db, key.id)
    _refused(db, request, UNRECOGNIZED_CLIENT)


@pytest.mark.parametrize("operation", ["invoke", "create_function"])
def test_tampered_body_is_refused(db: Database, key: AccessKey, operation: str) -> None:
    request = capture(key.id, key.secret or "", CALLS[operation])
    tampered = (
        request.body.replace(b"3.5", b"9.5") if operation == "invoke" else request.body + b" "
    )
    assert tampered != request.body
    _refused(db, request, INVALID_SIGNATURE, "does not match", body=tampered)


def test_body_not_matching_declared_hash_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    declared = hashlib.sha256(request.body).hexdigest()
    with_hash = request.headers | {"X-Amz-Content-SHA256": declared}
    _refused(db, request, INVALID_SIGNATURE, "x-amz-content-sha256", headers=with_hash, body=b"{}")
    unsigned = request.headers | {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    _refused(db, request, INVALID_SIGNATURE, "not supported", headers=unsigned)


def test_changed_path_or_query_is_refused(db: Database, key: AccessKey) -> None:
    invoke = capture(key.id, key.secret or "", CALLS["invoke"])
    other_path = invoke.path.replace("churn", "payroll")
    _refused(db, invoke, INVALID_SIGNATURE, path=other_path)
    _refused(db, invoke, INVALID_SIGNATURE, query_string="Qualifier=staging")
    _refused(db, invoke, INVALID_SIGNATURE, query_string="")
    _refused(db, invoke, INVALID_SIGNATURE, method="PUT")
    _refused(db, invoke, INVALID_SIGNATURE, "cannot verify", path="*")
    listing = capture(key.id, key.secret or "", CALLS["list_functions"])
    _refused(db, listing, INVALID_SIGNATURE, query_string=listing.query_string.replace("5", "500"))


def test_changed_signed_header_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    for host in ("evil.example:9", "[::1", "127.0.0.1:9/x"):
        _refused(db, request, INVALID_SIGNATURE, headers=request.headers | {"Host": host})


def test_session_token_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    headers = request.headers | {"X-Amz-Security-Token": "token"}
    _refused(db, request, UNRECOGNIZED_CLIENT, "lambeam issues none", headers=headers)


def test_date_beyond_skew_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    for offset in (timedelta(minutes=20), timedelta(minutes=-20)):  # stale, and from the future
        _refused(
            db,
            request,
            INVALID_SIGNATURE,
            "check the client's clock",
            now=request.signed_at + offset,
        )
    assert _verify(db, request, now=request.signed_at + timedelta(minutes=14)).id == key.id


def test_missing_or_changed_date_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    without = {k: v for k, v in request.headers.items() if k != "X-Amz-Date"}
    _refused(db, request, INVALID_SIGNATURE, "X-Amz-Date", headers=without)
    later = (request.signed_at + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    _refused(
        db,
        request,
        INVALID_SIGNATURE,
        "does not match",
        headers=request.headers | {"X-Amz-Date": later},
    )


def test_no_authorization_asks_for_credentials(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    without = {k: v for k, v in request.headers.items() if k != "Authorization"}
    _refused(db, request, MISSING_AUTHENTICATION_TOKEN, "credentials are required", headers=without)
    _refused(
        db,
        request,
        INVALID_SIGNATURE,
        "malformed presigned URL",
        headers=without,
        query_string="X-Amz-Signature=abc",
    )


def test_presigned_urls_are_accepted_until_they_expire(db: Database, key: AccessKey) -> None:
    listing = presign(key.id, key.secret or "", "list_functions", {"MaxItems": 5}, expires_in=600)
    assert "X-Amz-Signature=" in listing.query_string and "Authorization" not in listing.headers
    assert _verify(db, listing).id == key.id
    assert _verify(db, listing, now=listing.signed_at + timedelta(seconds=599)).id == key.id
    _refused(
        db,
        listing,
        INVALID_SIGNATURE,
        "presigned URL expired",
        now=listing.signed_at + timedelta(seconds=601),
    )
    getting = presign(
        key.id,
        key.secret or "",
        "get_function",
        {"FunctionName": "arn:aws:lambda:us-east-1:0:function:f"},
    )
    assert _verify(db, getting).id == key.id


def test_tampered_presigned_urls_are_refused(db: Database, key: AccessKey) -> None:
    url = presign(key.id, key.secret or "", "list_functions", {"MaxItems": 5})
    _refused(
        db,
        url,
        INVALID_SIGNATURE,
        "does not match",
        query_string=url.query_string.replace("MaxItems=5", "MaxItems=50"),
    )
    _refused(
        db,
        url,
        INVALID_SIGNATURE,
        "does not match",
        query_string=url.query_string.replace("Expires=3600", "Expires=7200"),
    )
    _refused(db, url, INVALID_SIGNATURE, "does not match", path="/2015-03-31/functions/f")
    _refused(db, url, INVALID_SIGNATURE, "does not sign a body", method="POST", body=b"{}")
    _refused(
        db,
        url,
        INVALID_SIGNATURE,
        "malformed presigned URL",
        query_string=url.query_string.replace("Expires=3600", "Expires=0"),
    )
    wrong = presign(key.id, "x" * 40, "list_functions", {"MaxItems": 5})
    _refused(db, wrong, INVALID_SIGNATURE, "does not match")
    disable_access_key(db, key.id)
    _refused(db, url, UNRECOGNIZED_CLIENT)


MANGLED = [
    lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
    lambda a: a.replace("/aws4_request", "/aws5_request"),
    lambda a: a.split(", Signature=")[0],
    lambda a: a.replace("Signature=", "Signature=zz"),
    lambda a: a + ", Signature=" + "0" * 64,
    lambda a: "garbage",
]


def test_malformed_authorization_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    for mangle in MANGLED:
        headers = request.headers | {"Authorization": mangle(request.headers["Authorization"])}
        _refused(db, request, INVALID_SIGNATURE, "malformed Authorization", headers=headers)


def test_other_service_scope_is_refused(db: Database, key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    _refused(db, request, INVALID_SIGNATURE, "scoped to service 's3'", service="s3")


def test_captured_request_is_what_boto3_sent(key: AccessKey) -> None:
    request = capture(key.id, key.secret or "", CALLS["invoke"])
    assert (request.method, request.query_string) == ("POST", "Qualifier=prod")
    assert request.path == "/2015-03-31/functions/churn/invocations"
    assert request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={key.id}/")
