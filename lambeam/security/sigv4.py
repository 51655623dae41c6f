"""AWS Signature Version 4 verification for the Lambda API, so that boto3 works unchanged.

Nothing here reimplements the signing: the request is rebuilt from what came over the wire (the
signed headers only, the raw path and query, the body) and botocore's own `SigV4Auth` computes the
signature the client should have sent, at the client's X-Amz-Date and credential scope; the two
are then compared in constant time.

What the gateway must pass: the method, the path exactly as received (still percent-encoded, e.g.
ASGI's `raw_path`; Lambda ARNs in paths are signed double-encoded), the raw query string, every
header (a repeated header joined with ","), and the body bytes.

Accepted: the `Authorization: AWS4-HMAC-SHA256 …` header with X-Amz-Date signed, any region, the
given service; and presigned URLs (`client.generate_presigned_url`, auth in the query string) for
requests without a body, until their X-Amz-Expires. Not supported (refused): a body on a presigned
URL (it would not be signed), unsigned or streaming payloads (`x-amz-content-sha256:
UNSIGNED-PAYLOAD` / `STREAMING-…`; boto3's lambda client always signs its payload), and session
tokens, since lambeam issues none.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from lambeam.security.errors import (
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    UNRECOGNIZED_CLIENT,
    AuthenticationError,
)
from lambeam.security.keys import AccessKey, KeyCache, key_cache
from lambeam.storage import Database, utcnow

__all__ = [
    "ALGORITHM",
    "PendingSignature",
    "begin_sigv4",
    "verify_sigv4",
]

ALGORITHM = "AWS4-HMAC-SHA256"
_FIELDS = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]+)\s*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{8}T\d{6}Z")
_QUERY_AUTH = {
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
}
_MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600  # AWS's own limit


@dataclass(frozen=True)
class _Claim:
    """What a request says about its signature, from its Authorization header or its query."""

    key_id: str
    date: str  # the credential scope's YYYYMMDD
    region: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    query_to_sign: str  # the query string the signature covers (a presigned URL's, minus it)
    expires_s: int | None = None  # presigned URLs only


def verify_sigv4(
    keys: Database | KeyCache,
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
    `max_skew_s` from `now` (or a presigned URL past its X-Amz-Expires), another service's scope,
    an unknown or disabled key, a body that does not match its x-amz-content-sha256, a body on a
    presigned URL, and any signature other than the one botocore computes. (A server checks
    the headers with `begin_sigv4` before it reads the body, and the signature after.)
    """
    pending = begin_sigv4(
        keys, method, path, query_string, headers, now, service, max_skew_s, has_body=bool(body)
    )
    return pending.finish(hashlib.sha256(body).hexdigest(), len(body))


@dataclass(frozen=True)
class PendingSignature:
    """A request whose headers passed `begin_sigv4`: its key is known and enabled, its date and
    scope are right; `finish` checks the signature once the body's SHA-256 is known."""

    key: AccessKey
    claim: _Claim
    secret: str
    method: str
    path: str
    signed: Mapping[str, str]
    declared_sha256: str | None
    service: str
    now: datetime
    cache: KeyCache

    def finish(self, body_sha256: str, body_size: int) -> AccessKey:
        """The key, if the signature covers this request with a body of this hash (and size)."""
        if self.claim.expires_s is not None and body_size:
            raise _body_on_presigned()
        if self.declared_sha256 is not None and not hmac.compare_digest(
            self.declared_sha256, body_sha256
        ):
            raise AuthenticationError(
                "the body does not match its x-amz-content-sha256", INVALID_SIGNATURE
            )
        expected = _expected_signature(
            self.claim,
            self.secret,
            self.service,
            self.method,
            self.path,
            self.signed,
            body_sha256,
        )
        if not hmac.compare_digest(expected.encode("ascii"), self.claim.signature.encode("ascii")):
            raise AuthenticationError(
                "the request signature we calculated does not match the signature you provided;"
                " check the secret access key and the signing method",
                INVALID_SIGNATURE,
            )
        self.cache.touch(self.key, self.now)
        return self.key


def begin_sigv4(
    keys: Database | KeyCache,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    now: datetime | None = None,
    service: str = "lambda",
    max_skew_s: float = 900,
    *,
    has_body: bool | None = None,
) -> PendingSignature:
    """Everything `verify_sigv4` checks that needs no body, or AuthenticationError: a server
    refuses an unsigned request, an unknown or disabled key, a wrong scope or a stale date
    before it reads a byte of the body. `has_body` (None: judged by Content-Length and
    Transfer-Encoding) refuses a body on a presigned URL."""
    now = _aware(now or utcnow())
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "").strip()
    if authorization:
        claim = _claim_from_header(authorization, lowered, query_string, service)
    elif "X-Amz-Signature=" in query_string:
        claim = _claim_from_query(query_string, service)
        if has_body is None:
            declared = lowered.get("content-length", "0").strip()
            has_body = declared not in ("", "0") or "transfer-encoding" in lowered
        if has_body:
            raise _body_on_presigned()
    else:
        raise AuthenticationError(
            "credentials are required: sign the request with AWS Signature V4 "
            "(boto3 does this with the access key id and secret from `lambeam init`)",
            MISSING_AUTHENTICATION_TOKEN,
        )
    if "host" not in claim.signed_headers:
        raise AuthenticationError("SignedHeaders must include host", INVALID_SIGNATURE)
    if claim.amz_date[:8] != claim.date:
        raise AuthenticationError(
            f"the credential scope date {claim.date} is not the date of X-Amz-Date {claim.amz_date}",
            INVALID_SIGNATURE,
        )
    _check_time(claim, now, max_skew_s)
    missing = [name for name in claim.signed_headers if name not in lowered]
    if missing:
        raise AuthenticationError(
            f"signed header {missing[0]!r} is not in the request", INVALID_SIGNATURE
        )
    if "x-amz-security-token" in lowered or "X-Amz-Security-Token=" in query_string:
        raise AuthenticationError(
            "the security token included in the request is invalid: lambeam issues none",
            UNRECOGNIZED_CLIENT,
        )
    declared_sha256 = _declared_payload_hash(lowered.get("x-amz-content-sha256"))
    if not path.startswith("/"):
        raise AuthenticationError(f"cannot verify a request for path {path!r}", INVALID_SIGNATURE)

    cache = key_cache(keys)
    found = cache.find(claim.key_id)
    if found is None or not found[0].enabled:
        raise AuthenticationError(
            "the security token included in the request is invalid: unknown or disabled access key",
            UNRECOGNIZED_CLIENT,
        )
    key, secret = found
    return PendingSignature(
        key=key,
        claim=claim,
        secret=secret,
        method=method,
        path=path,
        signed={name: lowered[name] for name in claim.signed_headers},
        declared_sha256=declared_sha256,
        service=service,
        now=now,
        cache=cache,
    )


def _body_on_presigned() -> AuthenticationError:
    return AuthenticationError(
        "a presigned URL does not sign a body; send a body with a signed Authorization header",
        INVALID_SIGNATURE,
    )


def _claim_from_header(
    value: str, lowered: Mapping[str, str], query_string: str, service: str
) -> _Claim:
    algorithm, _, rest = value.partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _FIELDS.fullmatch(part)
        if match is None or match.group(1) in fields:
            raise _malformed()
        fields[match.group(1)] = match.group(2)
    if algorithm != ALGORITHM or set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise _malformed()
    key_id, date, region = _parse_scope(fields["Credential"], service)
    signed_headers = fields["SignedHeaders"].split(";")
    amz_date = lowered.get("x-amz-date", "").strip()
    if not _DATE.fullmatch(amz_date):
        raise AuthenticationError(
            "the request has no valid X-Amz-Date header (expected YYYYMMDDTHHMMSSZ)",
            INVALID_SIGNATURE,
        )
    if "x-amz-date" not in signed_headers:
        raise AuthenticationError("SignedHeaders must include x-amz-date", INVALID_SIGNATURE)
    if not _HEX64.fullmatch(fields["Signature"]):
        raise _malformed()
    return _Claim(key_id, date, region, signed_headers, fields["Signature"], amz_date, query_string)


def _claim_from_query(query_string: str, service: str) -> _Claim:
    """A presigned URL's claim: X-Amz-* parameters in the query, as botocore's SigV4QueryAuth puts them."""
    params: dict[str, str] = {}
    kept = []
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if name in _QUERY_AUTH:
            if name in params:
                raise _malformed_query()
            params[name] = unquote(value)
        if name != "X-Amz-Signature":
            kept.append(pair)
    if set(params) != _QUERY_AUTH or params["X-Amz-Algorithm"] != ALGORITHM:
        raise _malformed_query()
    key_id, date, region = _parse_scope(params["X-Amz-Credential"], service)
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= _MAX_PRESIGNED_EXPIRES_S:
        raise _malformed_query()
    if not _DATE.fullmatch(params["X-Amz-Date"]) or not _HEX64.fullmatch(params["X-Amz-Signature"]):
        raise _malformed_query()
    return _Claim(
        key_id,
        date,
        region,
        params["X-Amz-SignedHeaders"].split(";"),
        params["X-Amz-Signature"],
        params["X-Amz-Date"],
        "&".join(kept),
        int(expires),
    )


def _parse_scope(credential: str, service: str) -> tuple[str, str, str]:
    """key id, date and region from `<key id>/<date>/<region>/<service>/aws4_request`."""
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise _malformed()
    key_id, date, region, scope_service, _ = scope
    if scope_service != service:
        raise AuthenticationError(
            f"credential should be scoped to service {service!r}, not {scope_service!r}",
            INVALID_SIGNATURE,
        )
    return key_id, date, region


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _malformed_query() -> AuthenticationError:
    return AuthenticationError(
        "malformed presigned URL: expected X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, "
        f"X-Amz-Expires (1 to {_MAX_PRESIGNED_EXPIRES_S} s), X-Amz-SignedHeaders and X-Amz-Signature",
        INVALID_SIGNATURE,
    )


def _malformed() -> AuthenticationError:
    return AuthenticationError(
        f"malformed Authorization header: expected `{ALGORITHM} Credential=<key id>/<date>/<region>/"
        "<service>/aws4_request, SignedHeaders=<names>, Signature=<hex>`",
        INVALID_SIGNATURE,
    )


def _check_time(claim: _Claim, now: datetime, max_skew_s: float) -> None:
    """Within `max_skew_s` of the signing time; a presigned URL, until it expires."""
    try:
        signed_at = datetime.strptime(claim.amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise AuthenticationError(
            f"X-Amz-Date {claim.amz_date} is not a date", INVALID_SIGNATURE
        ) from None
    skew = timedelta(seconds=max_skew_s)
    # now - signed_at, not signed_at + expires: a date near year 9999 would overflow the sum.
    if claim.expires_s is not None and now - signed_at > timedelta(seconds=claim.expires_s):
        raise AuthenticationError(
            f"presigned URL expired: signed at {claim.amz_date} for {claim.expires_s} s",
            INVALID_SIGNATURE,
        )
    if claim.expires_s is None and signed_at < now - skew:
        raise AuthenticationError(
            f"signature expired: {claim.amz_date} is now earlier than "
            f"{(now - skew).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} - "
            f"{max_skew_s:g} s); check the client's clock",
            INVALID_SIGNATURE,
        )
    if signed_at > now + skew:
        raise AuthenticationError(
            f"signature not yet current: {claim.amz_date} is still later than "
            f"{(now + skew).strftime(SIGV4_TIMESTAMP)}; check the client's clock",
            INVALID_SIGNATURE,
        )


def _declared_payload_hash(declared: str | None) -> str | None:
    # botocore puts a declared x-amz-content-sha256 into the canonical request as it is, so the
    # signature alone does not cover the body when one is sent: `finish` checks it against the
    # body's hash.
    if declared is None:
        return None
    if not _HEX64.fullmatch(declared.strip()):
        raise AuthenticationError(
            f"x-amz-content-sha256 {declared!r} is not supported; sign the payload's SHA-256",
            INVALID_SIGNATURE,
        )
    return declared.strip()


class _ExactHeaders(SigV4Auth):
    """botocore's signer, told that the signed headers are exactly those the client named, and
    the body's SHA-256 (hashed while the body was read, so the body itself is not needed).

    (botocore would otherwise drop a few headers it never signs itself, such as user-agent,
    which other SDKs may sign.)
    """

    def __init__(self, credentials: Credentials, service: str, region: str, body_sha256: str):
        super().__init__(credentials, service, region)
        self.body_sha256 = body_sha256

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map

    def payload(self, request: AWSRequest) -> str:
        return self.body_sha256


def _expected_signature(
    claim: _Claim,
    secret: str,
    service: str,
    method: str,
    path: str,
    signed: Mapping[str, str],
    body_sha256: str,
) -> str:
    # The host the client signed is in `signed`; the URL only carries the path and query, so a
    # strange Host value cannot change how they are parsed.
    query = claim.query_to_sign
    url = f"http://lambeam.invalid{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method.upper(), url=url, headers=dict(signed))
    request.context["timestamp"] = claim.amz_date
    signer = _ExactHeaders(Credentials(claim.key_id, secret), service, claim.region, body_sha256)
    try:
        canonical = signer.canonical_request(request)
    except ValueError as exc:  # a path or query botocore cannot parse: nobody signed it
        raise AuthenticationError(f"cannot verify this request: {exc}", INVALID_SIGNATURE) from None
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
