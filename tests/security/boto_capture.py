"""Requests exactly as an unmodified boto3 `lambda` client signs them, captured before sending."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.awsrequest import AWSResponse


@dataclass(frozen=True)
class Captured:
    """One signed request as it would have gone on the wire."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def signed_at(self) -> datetime:
        date = self.headers.get("X-Amz-Date") or parse_qs(self.query_string)["X-Amz-Date"][0]
        return datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


class _Raw:
    """Just enough of urllib3's response for botocore to read an empty body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _client(key_id: str, secret: str) -> Any:
    """An unmodified boto3 lambda client, aimed at a port nothing listens on."""
    return boto3.client(
        "lambda",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def capture(key_id: str, secret: str, call: Callable[[Any], Any]) -> Captured:
    """Run `call(client)` on a boto3 lambda client and return the signed request it would send."""
    client = _client(key_id, secret)
    seen: list[Captured] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif hasattr(body, "read"):
            body = body.read()
        seen.append(
            Captured(
                method=request.method,
                path=url.path,
                query_string=url.query,
                # urllib3 adds Host when it sends; botocore signed it from the endpoint URL.
                headers={"Host": url.netloc}
                | {
                    k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
                },
                body=body,
            )
        )
        # Answer locally, so nothing goes on the network.
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(b"{}"))

    client.meta.events.register("before-send.lambda.*", before_send)
    call(client)
    assert len(seen) == 1
    return seen[0]


def presign(
    key_id: str, secret: str, operation: str, params: dict[str, Any], expires_in: int = 3600
) -> Captured:
    """The GET a caller of boto3's `generate_presigned_url` would send, and when it was signed."""
    client = _client(key_id, secret)
    url = urlsplit(client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in))
    return Captured(
        method="GET", path=url.path, query_string=url.query, headers={"Host": url.netloc}, body=b""
    )
