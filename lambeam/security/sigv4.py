"""AWS Signature Version 4 verification for the Lambda API, so that boto3 works unchanged.

Nothing here reimplements the signing: the request is rebuilt from what came over the wire (the
signed headers only, the raw path and query, the body) and botocore's own `SigV4Auth` computes the
signature the client should have sent, at the client's X-Amz-Date and credential scope; the two
are then compared in constant time.

What the gateway must pass: the method, the path exactly as received (still percent-encoded, e.g.
ASGI's `raw_path`; Lambda ARNs in paths are signed double-encoded), the raw query string, every
header (a repeated header joined with ","), and the body bytes.

Accepted: the `Authorization: AWS4-HMAC-SHA256 …` header with X-Amz-Date signed, any region, the
given service. Not supported (refused): presigned URLs (auth in the query string), unsigned or
streaming payloads (`x-amz-content-sha256: UNSIGNED-PAYLOAD` / `STREAMING-…`; boto3's lambda client
always signs its payload), and session tokens, since lambeam issues none.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from lambeam.security.errors import (
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    UNRECOGNIZED_CLIENT,
    AuthenticationError,
)
from lambeam.security.keys import AccessKey, find_key_row, touch_last_used
from lambeam.storage import Database, utcnow

__all__ = ["ALGORITHM", "verify_sigv4"]

ALGORITHM = "AWS4-HMAC-SHA256"
_FIELDS = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]+)\s*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{8}T\d{6}Z")


def verify_sigv4(
    db: Database,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
    service: str = "lambda",
    max_skew_s: float = 900,
) -> AccessKey:
    """The enabled access key that signed this request with Signature V4, or AuthenticationError.

    Refused: no or malformed Authorization, missing or unsigned X-Amz-Date, a date more than
    `max_skew_s` from `now`, another service's scope, an unknown or disabled key, a body that does
    not match its x-amz-content-sha256, and any signature other than the one botocore computes.
    """
    now = _aware(now or utcnow())
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "").strip()
    if not authorization:
        if "X-Amz-Signature=" in query_string:
            raise AuthenticationError(
                "presigned URLs are not supported; sign the Authorization header",
                MISSING_AUTHENTICATION_TOKEN,
            )
        raise AuthenticationError(
            "credentials are required: sign the request with AWS Signature V4 "
            "(boto3 does this with the access key id and secret from `lambeam init`)",
            MISSING_AUTHENTICATION_TOKEN,
        )
    key_id, date, region, signed_headers, signature = _parse_authorization(authorization, service)

    amz_date = lowered.get("x-amz-date", "").strip()
    if not _DATE.fullmatch(amz_date):
        raise AuthenticationError(
            "the request has no valid X-Amz-Date header (expected YYYYMMDDTHHMMSSZ)",
            INVALID_SIGNATURE,
        )
    if "x-amz-date" not in signed_headers or "host" not in signed_headers:
        raise AuthenticationError("SignedHeaders must include host and x-amz-date", INVALID_SIGNATURE)
    if amz_date[:8] != date:
        raise AuthenticationError(
            f"the credential scope date {date} is not the date of X-Amz-Date {amz_date}",
            INVALID_SIGNATURE,
        )
    _check_skew(amz_date, now, max_skew_s)
    missing = [name for name in signed_headers if name not in lowered]
    if missing:
        raise AuthenticationError(f"signed header {missing[0]!r} is not in the request", INVALID_SIGNATURE)
    if "x-amz-security-token" in lowered:
        raise AuthenticationError(
            "the security token included in the request is invalid: lambeam issues none",
            UNRECOGNIZED_CLIENT,
        )
    _check_payload_hash(lowered.get("x-amz-content-sha256"), body)

    found = find_key_row(db, key_id)
    if found is None or not found[0].enabled:
        raise AuthenticationError(
            "the security token included in the request is invalid: unknown or disabled access key",
            UNRECOGNIZED_CLIENT,
        )
    key, secret = found
    expected = _expected_signature(
        key_id, secret, region, service, method, path, query_string,
        {name: lowered[name] for name in signed_headers}, body, amz_date,
    )
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise AuthenticationError(
            "the request signature we calculated does not match the signature you provided; "
            "check the secret access key and the signing method",
            INVALID_SIGNATURE,
        )
    touch_last_used(db, key, now)
    return key


def _parse_authorization(value: str, service: str) -> tuple[str, str, str, list[str], str]:
    """key id, scope date, region, signed header names, signature; or a 401 for anything else."""
    algorithm, _, rest = value.partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _FIELDS.fullmatch(part)
        if match is None or match.group(1) in fields:
            raise _malformed()
        fields[match.group(1)] = match.group(2)
    if algorithm != ALGORITHM or set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise _malformed()
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise _malformed()
    key_id, date, region, scope_service, _ = scope
    if scope_service != service:
        raise AuthenticationError(
            f"credential should be scoped to service {service!r}, not {scope_service!r}",
            INVALID_SIGNATURE,
        )
    signature = fields["Signature"]
    if not _HEX64.fullmatch(signature):
        raise _malformed()
    return key_id, date, region, fields["SignedHeaders"].split(";"), signature


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _malformed() -> AuthenticationError:
    return AuthenticationError(
        f"malformed Authorization header: expected `{ALGORITHM} Credential=<key id>/<date>/<region>/"
        "<service>/aws4_request, SignedHeaders=<names>, Signature=<hex>`",
        INVALID_SIGNATURE,
    )


def _check_skew(amz_date: str, now: datetime, max_skew_s: float) -> None:
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise AuthenticationError(f"X-Amz-Date {amz_date} is not a date", INVALID_SIGNATURE) from None
    skew = timedelta(seconds=max_skew_s)
    if signed_at < now - skew:
        raise AuthenticationError(
            f"signature expired: {amz_date} is now earlier than "
            f"{(now - skew).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} - "
            f"{max_skew_s:g} s); check the client's clock",
            INVALID_SIGNATURE,
        )
    if signed_at > now + skew:
        raise AuthenticationError(
            f"signature not yet current: {amz_date} is still later than "
            f"{(now + skew).strftime(SIGV4_TIMESTAMP)}; check the client's clock",
            INVALID_SIGNATURE,
        )


def _check_payload_hash(declared: str | None, body: bytes) -> None:
    # botocore puts a declared x-amz-content-sha256 into the canonical request as it is, so the
    # signature alone does not cover the body when one is sent: check it against the body here.
    if declared is None:
        return
    if not _HEX64.fullmatch(declared.strip()):
        raise AuthenticationError(
            f"x-amz-content-sha256 {declared!r} is not supported; sign the payload's SHA-256",
            INVALID_SIGNATURE,
        )
    if not hmac.compare_digest(declared.strip(), hashlib.sha256(body).hexdigest()):
        raise AuthenticationError(
            "the body does not match its x-amz-content-sha256", INVALID_SIGNATURE
        )


class _ExactHeaders(SigV4Auth):
    """botocore's signer, told that the signed headers are exactly those the client named.

    (botocore would otherwise drop a few it never signs itself, such as user-agent, which other
    SDKs may sign.)
    """

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


def _expected_signature(
    key_id: str,
    secret: str,
    region: str,
    service: str,
    method: str,
    path: str,
    query_string: str,
    signed: Mapping[str, str],
    body: bytes,
    amz_date: str,
) -> str:
    # The host the client signed is in `signed`; the URL only carries the path and query, so a
    # strange Host value cannot change how they are parsed.
    if not path.startswith("/"):
        raise AuthenticationError(f"cannot verify a request for path {path!r}", INVALID_SIGNATURE)
    url = f"http://lambeam.invalid{path}" + (f"?{query_string}" if query_string else "")
    request = AWSRequest(method=method.upper(), url=url, headers=dict(signed), data=body)
    request.context["timestamp"] = amz_date
    signer = _ExactHeaders(Credentials(key_id, secret), service, region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
