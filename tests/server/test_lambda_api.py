"""The Lambda API driven by an unmodified boto3 `lambda` client against a real gateway."""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server.conftest import RunningServer, zip_of

APP = """\
import os

def handler(event, context):
    print("handling", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "code": "VERSION", "greeting": os.environ.get("GREETING"),
            "version": context.function_version}
"""
_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)


def _client(server: RunningServer, secret: str | None = None, **config: Any) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.key.id,
        aws_secret_access_key=secret or server.key.secret,
        config=_CONFIG.merge(Config(**config)) if config else _CONFIG,
    )


def _code(version: str) -> bytes:
    return zip_of({"app.py": APP.replace("VERSION", version)})


def _invoke(client: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(**kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def _error_code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_boto3_creates_invokes_versions_and_aliases_a_code_function(
    gateway_server: RunningServer,
) -> None:
    client = _client(gateway_server)
    created = client.create_function(
        FunctionName="hello",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": _code("one")},
        Environment={"Variables": {"GREETING": "hi"}},
        Timeout=10,
    )
    assert created["FunctionName"] == "hello" and created["Version"] == "$LATEST"
    assert created["State"] == "Active" and created["Runtime"] == "python3.11"
    assert len(base64.b64decode(created["CodeSha256"])) == 32 and created["CodeSize"] > 0
    assert created["FunctionArn"].endswith(":function:hello")
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}}

    response, body = _invoke(client, FunctionName="hello", Payload=b'{"n": 1}', LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body == {"echo": {"n": 1}, "code": "one", "greeting": "hi", "version": "$LATEST"}
    assert response["ExecutedVersion"] == "$LATEST"
    log = base64.b64decode(response["LogResult"]).decode()
    for word in ("START RequestId:", "handling", "END RequestId:", "REPORT RequestId:"):
        assert word in log

    response, body = _invoke(client, FunctionName="hello", Payload=b'{"fail": true}')
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "asked to fail"
    assert isinstance(body["stackTrace"], list)

    dry = client.invoke(FunctionName="hello", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    event = client.invoke(FunctionName="hello", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202

    assert client.publish_version(FunctionName="hello")["Version"] == "1"
    updated = client.update_function_code(FunctionName="hello", ZipFile=_code("two"))
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert client.publish_version(FunctionName="hello", Description="second")["Version"] == "2"
    versions = client.list_versions_by_function(FunctionName="hello")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]

    alias = client.create_alias(FunctionName="hello", Name="prod", FunctionVersion="1")
    assert alias["AliasArn"].endswith(":function:hello:prod") and alias["FunctionVersion"] == "1"
    response, body = _invoke(client, FunctionName="hello", Qualifier="prod", Payload=b"{}")
    assert response["ExecutedVersion"] == "1" and body["code"] == "one"

    weights = {"AdditionalVersionWeights": {"2": 1.0}}
    moved = client.update_alias(FunctionName="hello", Name="prod", RoutingConfig=weights)
    assert moved["RoutingConfig"] == weights and moved["RevisionId"] != alias["RevisionId"]
    assert client.get_alias(FunctionName="hello", Name="prod")["RoutingConfig"] == weights
    response, body = _invoke(client, FunctionName="hello", Qualifier="prod", Payload=b"{}")
    assert response["ExecutedVersion"] == "2" and body == {
        "echo": {},
        "code": "two",
        "greeting": "hi",
        "version": "2",
    }
    response, body = _invoke(client, FunctionName="hello", Qualifier="1", Payload=b"{}")
    assert response["ExecutedVersion"] == "1" and body["code"] == "one"

    reconfigured = client.update_function_configuration(
        FunctionName="hello", Timeout=5, Environment={"Variables": {"GREETING": "hey"}}
    )
    assert reconfigured["Timeout"] == 5 and reconfigured["RevisionId"] != updated["RevisionId"]
    _, body = _invoke(client, FunctionName="hello", Payload=b"{}")
    assert body["greeting"] == "hey" and body["code"] == "two"

    put = client.put_function_concurrency(FunctionName="hello", ReservedConcurrentExecutions=0)
    assert put["ReservedConcurrentExecutions"] == 0
    with pytest.raises(ClientError) as throttled:
        client.invoke(FunctionName="hello", Payload=b"{}")
    assert _error_code(throttled) == ("TooManyRequestsException", 429)
    client.put_function_concurrency(FunctionName="hello", ReservedConcurrentExecutions=4)
    got = client.get_function(FunctionName="hello")
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 4}
    assert got["Configuration"]["Timeout"] == 5
    assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == ["hello"]
    assert _invoke(client, FunctionName="hello", Payload=b"{}")[0]["StatusCode"] == 200

    configuration = client.get_function_configuration(FunctionName="hello", Qualifier="prod")
    assert configuration["Version"] == "1"
    with pytest.raises(ClientError) as stale:
        client.update_function_configuration(FunctionName="hello", Timeout=6, RevisionId="old")
    assert _error_code(stale) == ("PreconditionFailedException", 412)
    with pytest.raises(ClientError) as in_use:
        client.delete_function(FunctionName="hello", Qualifier="1")
    assert _error_code(in_use) == ("ResourceConflictException", 409)
    assert [a["Name"] for a in client.list_aliases(FunctionName="hello")["Aliases"]] == ["prod"]
    client.delete_alias(FunctionName="hello", Name="prod")
    assert client.list_aliases(FunctionName="hello")["Aliases"] == []
    assert (
        client.get_function_concurrency(FunctionName="hello")["ReservedConcurrentExecutions"] == 4
    )
    client.delete_function_concurrency(FunctionName="hello")
    assert "Concurrency" not in client.get_function(FunctionName="hello")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(
        FunctionName="hello"
    )
    with pytest.raises(ClientError) as unsupported:  # an operation lambeam does not implement
        client.get_account_settings()
    assert _error_code(unsupported) == ("UnknownOperationException", 404)
    assert "does not implement GET /2016-08-19/account-settings" in str(unsupported.value)

    client.delete_function(FunctionName="hello")
    with pytest.raises(ClientError) as missing:
        client.get_function(FunctionName="hello")
    assert _error_code(missing) == ("ResourceNotFoundException", 404)


def test_listings_page_with_marker_and_max_items(gateway_server: RunningServer) -> None:
    # boto3's paginators follow NextMarker; a page starts after the last one's item even when
    # items are removed in between; FunctionVersion=ALL lists the published versions too.
    client = _client(gateway_server)
    names = [f"paged-{letter}" for letter in "abcde"]
    for name in reversed(names):
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/x",
            Handler="app.handler",
            Code={"ZipFile": _code("one")},
        )
    try:
        paginator = client.get_paginator("list_functions")
        pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
        listed = [f["FunctionName"] for p in pages for f in p["Functions"]]
        assert [n for n in listed if n.startswith("paged-")] == names
        assert all(len(p["Functions"]) <= 2 for p in pages) and "NextMarker" not in pages[-1]

        first = client.list_functions(MaxItems=2)
        assert len(first["Functions"]) == 2 and first["NextMarker"]
        client.delete_function(FunctionName=first["Functions"][-1]["FunctionName"])
        rest = client.list_functions(Marker=first["NextMarker"], MaxItems=100)
        after = [f["FunctionName"] for f in first["Functions"] + rest["Functions"]]
        assert len(after) == len(set(after)) and "NextMarker" not in rest

        client.publish_version(FunctionName="paged-e")
        client.update_function_code(FunctionName="paged-e", ZipFile=_code("two"), Publish=True)
        every = client.list_functions(FunctionVersion="ALL", MaxItems=10_000)["Functions"]
        assert [f["Version"] for f in every if f["FunctionName"] == "paged-e"] == [
            "$LATEST",
            "1",
            "2",
        ]
        versions = client.get_paginator("list_versions_by_function").paginate(
            FunctionName="paged-e", PaginationConfig={"PageSize": 1}
        )
        assert [v["Version"] for p in versions for v in p["Versions"]] == ["$LATEST", "1", "2"]

        client.create_alias(FunctionName="paged-e", Name="old", FunctionVersion="1")
        client.create_alias(
            FunctionName="paged-e",
            Name="new",
            FunctionVersion="2",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
        client.create_alias(FunctionName="paged-e", Name="dev", FunctionVersion="$LATEST")
        aliases = client.get_paginator("list_aliases").paginate(
            FunctionName="paged-e", PaginationConfig={"PageSize": 2}
        )
        assert [a["Name"] for p in aliases for a in p["Aliases"]] == ["dev", "new", "old"]
        on_one = client.list_aliases(FunctionName="paged-e", FunctionVersion="1")["Aliases"]
        assert [a["Name"] for a in on_one] == ["new", "old"]

        with pytest.raises(ClientError) as garbage:
            client.list_functions(Marker="not-a-marker")
        assert _error_code(garbage) == ("InvalidParameterValueException", 400)
        assert "Marker" in garbage.value.response["Error"]["Message"]
        nested = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
        empty = base64.urlsafe_b64encode(b"[]").decode()
        for bad in (nested, empty):  # refused as a 400, not retried as a 5xx
            with pytest.raises(ClientError) as refused:
                client.list_functions(Marker=bad)
            assert _error_code(refused) == ("InvalidParameterValueException", 400)
        with pytest.raises(ClientError) as not_a_version:
            client.list_aliases(FunctionName="paged-e", FunctionVersion="abc")
        assert _error_code(not_a_version) == ("InvalidParameterValueException", 400)
        with pytest.raises(ClientError) as other_listing:
            client.list_aliases(FunctionName="paged-e", Marker=first["NextMarker"])
        assert _error_code(other_listing) == ("InvalidParameterValueException", 400)
        with pytest.raises(ClientError) as which:
            client.list_functions(FunctionVersion="LATEST")
        assert _error_code(which) == ("InvalidParameterValueException", 400)
    finally:
        for name in names:
            with contextlib.suppress(ClientError):
                client.delete_function(FunctionName=name)


def test_lambdas_errors_come_back_as_boto3_exceptions(gateway_server: RunningServer) -> None:
    client = _client(gateway_server)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nothing-here", Payload=b"{}")
    with pytest.raises(ClientError) as bad:
        client.create_function(
            FunctionName="bad",
            Runtime="python3.11",
            Role="r",
            Handler="no-dots",
            Code={"ZipFile": _code("x")},
        )
    assert _error_code(bad) == ("InvalidParameterValueException", 400)
    client.create_function(
        FunctionName="twice",
        Runtime="python3.11",
        Role="r",
        Handler="app.handler",
        Code={"ZipFile": _code("x")},
    )
    with pytest.raises(ClientError) as conflict:
        client.create_function(
            FunctionName="twice",
            Runtime="python3.11",
            Role="r",
            Handler="app.handler",
            Code={"ZipFile": _code("x")},
        )
    assert _error_code(conflict) == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as too_large:
        client.invoke(FunctionName="twice", Payload=b"x" * (6 * 1024 * 1024 + 1))
    assert _error_code(too_large) == ("RequestEntityTooLargeException", 413)
    for kind in ("RequestResponse", "Event"):  # refused before it runs, as Lambda does
        with pytest.raises(ClientError) as not_json:
            client.invoke(FunctionName="twice", Payload=b"not json", InvocationType=kind)
        assert _error_code(not_json) == ("InvalidRequestContentException", 400)
        assert "Could not parse request body into json" in str(not_json.value)


def test_a_wrong_secret_a_tampered_body_a_stale_date_and_no_credentials_are_refused(
    gateway_server: RunningServer,
) -> None:
    wrong = _client(gateway_server, secret="x" * 40)
    with pytest.raises(ClientError) as refused:
        wrong.list_functions()
    assert _error_code(refused) == ("InvalidSignatureException", 403)

    tampering = _client(gateway_server)

    def tamper(request: Any, **_: Any) -> None:
        request.body = b'{"tampered": true}'
        request.headers["Content-Length"] = str(len(request.body))

    tampering.meta.events.register("before-send.lambda.Invoke", tamper)
    with pytest.raises(ClientError) as tampered:
        tampering.invoke(FunctionName="twice", Payload=b'{"honest": true}')
    assert _error_code(tampered)[1] == 403

    stale = _signed_long_ago(gateway_server, "/2015-03-31/functions/")
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(stale, timeout=30)
    assert expired.value.code == 403
    assert expired.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "signature expired" in json.loads(expired.value.read())["message"]

    anonymous = _client(gateway_server, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as missing:
        anonymous.list_functions()
    assert _error_code(missing) == ("MissingAuthenticationTokenException", 401)


def _signed_long_ago(server: RunningServer, path: str) -> urllib.request.Request:
    """A GET correctly signed by botocore's own signer, but dated an hour ago."""
    request = AWSRequest(method="GET", url=server.url + path)
    request.headers["Host"] = server.url.removeprefix("http://")
    signer = SigV4Auth(Credentials(server.key.id, server.key.secret), "lambda", "us-east-1")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    request.context["timestamp"] = an_hour_ago.strftime(SIGV4_TIMESTAMP)
    # What SigV4Auth.add_auth does after reading the clock, at the date set above.
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return urllib.request.Request(request.url, headers=dict(request.headers.items()))


def test_a_timeout_is_lambdas_function_error_and_the_next_call_works(
    gateway_server: RunningServer,
) -> None:
    client = _client(gateway_server)
    source = (
        "import time\n\ndef handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n    return 'done'\n"
    )
    client.create_function(
        FunctionName="sleepy",
        Runtime="python3.11",
        Role="r",
        Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": source})},
        Timeout=1,
    )
    response, body = _invoke(client, FunctionName="sleepy", Payload=b'{"sleep": 30}')
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    response, body = _invoke(client, FunctionName="sleepy", Payload=b"{}")
    assert "FunctionError" not in response and body == "done"
