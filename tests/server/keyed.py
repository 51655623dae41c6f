"""What the gateway's authorization tests share: fresh functions, keys with a policy, and
requests made as boto3 never would (any query, a signed request sent by hand)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from itertools import count
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambeam.functions import (
    CodeBundle,
    FunctionConfig,
    create_alias,
    create_function,
    publish_version,
)
from lambeam.security import AccessKey, create_access_key, put_key_policy
from tests.server.conftest import RunningServer, zip_of

APP = "def handler(event, context):\n    return {'got': event}\n"
ZIP = zip_of({"app.py": APP})
_names = count(1)


def fresh_name() -> str:
    """A function name no test of this run has used."""
    return f"m{next(_names)}"


def arn(name: str) -> str:
    """A policy resource for function `name` (any region and account)."""
    return f"arn:aws:lambda:*:*:function:{name}"


def code_function(server: RunningServer, *, published: bool = False, alias: bool = False) -> str:
    """A fresh code function (with version 1 and alias `live` when asked)."""
    name = fresh_name()
    db, store = server.project.db, server.project.store
    config = FunctionConfig(kind="code", handler="app.handler")
    create_function(db, store, name, config, code=CodeBundle.from_zip(ZIP))
    if published or alias:
        publish_version(db, store, name)
    if alias:
        create_alias(db, name, "live", "1")
    return name


def key_with(server: RunningServer, *statements: dict[str, Any]) -> AccessKey:
    """An invoker key whose policy is `statements`."""
    key = create_access_key(server.project.db, f"policy {next(_names)}", role="invoker")
    put_key_policy(
        server.project.db, key.id, {"Version": "2012-10-17", "Statement": list(statements)}
    )
    return key


def rest_call(
    server: RunningServer, request: tuple[str, str, Any], authorization: str | None
) -> tuple[int, Any]:
    """(method, path, JSON body) against the REST API; the status and the decoded answer."""
    method, path, body = request
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    sent = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(sent, timeout=120) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return status, json.loads(raw) if raw else None


def signed_call(
    server: RunningServer, key: AccessKey, method: str, path: str, body: bytes = b""
) -> int:
    """Send a SigV4-signed Lambda API request with any query, as boto3 never would."""
    assert key.secret is not None
    request = AWSRequest(method=method, url=server.url + path, data=body)
    SigV4Auth(Credentials(key.id, key.secret), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, body or None, dict(prepared.headers.items()), method=method
    )
    try:
        with urllib.request.urlopen(sent, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
