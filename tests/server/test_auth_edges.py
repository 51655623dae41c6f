"""The gateway's authentication and authorization at their edges, each a hole a review found:
a qualifier spelt another way, $LATEST spelt out, malformed input that must stay a 4xx, a repeated
query parameter, and a key disabled while its request's body was being read."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambeam.security import create_access_key, disable_access_key
from tests.server.conftest import RunningServer, start_server
from tests.server.keyed import arn, code_function, key_with, rest_call, signed_call


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("edges")) / "proj")
    yield running
    running.stop()
    running.project.close()


def test_a_qualifier_spelled_otherwise_is_not_a_way_around_a_policy(
    server: RunningServer,
) -> None:
    """A key allowed version 1 only: `?qualifier=1` (the REST spelling) on the Lambda API names
    no version there, so it is asked (and refused) as $LATEST; it ran $LATEST and deleted the
    whole function while the policy check read it as version 1."""
    name = code_function(server, published=True)
    key = key_with(server, {"Effect": "Allow", "Action": "lambda:*", "Resource": arn(f"{name}:1")})
    base = f"/2015-03-31/functions/{name}"
    assert signed_call(server, key, "POST", f"{base}/invocations?qualifier=1", b"{}") == 403
    assert signed_call(server, key, "DELETE", f"{base}?qualifier=1") == 403
    assert signed_call(server, key, "POST", f"{base}/invocations?Qualifier=1", b"{}") == 200
    assert signed_call(server, key, "GET", f"{base}?Qualifier=1") == 200  # it is still there


def test_latest_spelt_out_is_the_unqualified_function_to_a_policy(server: RunningServer) -> None:
    """A Deny on `function:NAME` held for an unqualified call but not for `NAME:$LATEST` or
    `?Qualifier=$LATEST` (found in review): both are the same code."""
    name = code_function(server, published=True)
    key = key_with(
        server,
        {"Effect": "Allow", "Action": "lambda:*", "Resource": arn(f"{name}*")},
        {"Effect": "Deny", "Action": "lambda:*", "Resource": arn(name)},
    )
    base = f"/2015-03-31/functions/{name}"
    for path in (
        f"{base}/invocations",
        f"{base}/invocations?Qualifier=$LATEST",
        f"/2015-03-31/functions/{name}:$LATEST/invocations",
    ):
        assert signed_call(server, key, "POST", path, b"{}") == 403, path
    assert signed_call(server, key, "POST", f"{base}/invocations?Qualifier=1", b"{}") == 200


def test_malformed_requests_are_their_own_4xx_never_a_server_error(server: RunningServer) -> None:
    """Found in review: a 5000-digit number in a body, a routing weight of 10**400, a presigned
    date in year 9999 and a repeated Qualifier were answered 500 (or signed in any order)."""
    name = code_function(server, published=True)
    key = server.key
    huge = b'{"Description": ' + b"9" * 5000 + b"}"
    base = f"/2015-03-31/functions/{name}"
    assert signed_call(server, key, "POST", f"{base}/versions", huge) == 400
    status, _ = rest_call(server, ("POST", f"/v1/functions/{name}/versions", None), None)
    assert status == 401
    weight = b'{"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"1": '
    weight += b"1" + b"0" * 400 + b"}}}"
    assert (
        signed_call(
            server, key, "POST", f"{base}/aliases", b'{"Name": "w", "FunctionVersion": "1"}'
        )
        == 201
    )
    assert signed_call(server, key, "PUT", f"{base}/aliases/w", weight) == 400
    assert (
        signed_call(server, key, "POST", f"{base}/invocations?Qualifier=1&Qualifier=1", b"{}")
        == 400
    )
    presigned = (
        f"{server.url}/2015-03-31/functions?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=LBAKNOSUCHKEY000000/99991231/us-east-1/lambda/aws4_request"
        "&X-Amz-Date=99991231T235959Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" + "0" * 64
    )
    try:
        with urllib.request.urlopen(presigned, timeout=60) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    assert 400 <= status < 500


def test_a_key_disabled_while_its_body_is_read_is_refused(server: RunningServer) -> None:
    """The key was checked before the body and never again: a slow body outlived its key's
    disabling (found in review)."""
    name = code_function(server)
    for face in ("rest", "lambda"):
        key = create_access_key(server.project.db, f"slow {face}", role="admin")
        assert key.secret is not None
        body = b'{"slow": true}'
        if face == "rest":
            path = f"/v1/functions/{name}/invoke"
            headers = {"Authorization": f"Bearer {key.id}:{key.secret}"}
        else:
            path = f"/2015-03-31/functions/{name}/invocations"
            request = AWSRequest(method="POST", url=server.url + path, data=body)
            SigV4Auth(Credentials(key.id, key.secret), "lambda", "us-east-1").add_auth(request)
            headers = dict(request.prepare().headers.items())
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            head += "".join(
                f"{k}: {v}\r\n"
                for k, v in headers.items()
                if k.lower() not in ("host", "content-length")
            )
            head += f"Content-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode() + body[:3])
            time.sleep(0.3)  # the server has checked the key and waits for the body
            disable_access_key(server.project.db, key.id)
            time.sleep(1.2)  # past the key cache's second
            sock.sendall(body[3:])
            answer = sock.recv(65536).decode("latin-1")
        assert answer.startswith("HTTP/1.1 401") or answer.startswith("HTTP/1.1 403"), (
            face,
            answer[:200],
        )
