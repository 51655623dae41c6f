"""Changes made through a running server's REST API and Lambda API (an unmodified boto3 client)
are in the audit log, recorded as the access key that signed them."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambeam.storage.audit import entries, verify
from tests.server.conftest import RunningServer, start_server, zip_of

APP = "def handler(event, context):\n    return {'ok': True}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("audit-server")) / "proj")
    yield running
    running.stop()
    running.project.close()


def _rest(server: RunningServer, method: str, path: str, body: Any = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={**server.bearer, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status < 300


def _since(server: RunningServer, seq: int) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.resource) for e in entries(server.project.db) if e.seq > seq]


def _last_seq(server: RunningServer) -> int:
    found = entries(server.project.db, limit=1)
    return found[-1].seq if found else 0


def test_rest_changes_are_audited_as_the_key(server: RunningServer) -> None:
    before = _last_seq(server)
    code = base64.b64encode(zip_of({"app.py": APP})).decode()
    config = {"handler": "app.handler", "environment": {"TOKEN": "rest-secret"}}
    _rest(server, "POST", "/v1/functions", {"name": "viarest", "code": code, "config": config})
    _rest(server, "POST", "/v1/functions/viarest/versions", {})
    _rest(server, "POST", "/v1/functions/viarest/aliases", {"name": "prod", "version": "1"})
    _rest(server, "DELETE", "/v1/functions/viarest")
    actor = f"key:{server.key.id} ({server.key.name})"
    assert _since(server, before) == [
        (actor, "lambda:CreateFunction", "function:viarest"),
        (actor, "lambda:PublishVersion", "function:viarest:1"),
        (actor, "lambda:CreateAlias", "function:viarest:prod"),
        (actor, "lambda:DeleteFunction", "function:viarest"),
    ]
    assert "rest-secret" not in json.dumps([e.details for e in entries(server.project.db)])
    assert verify(server.project.db).ok


def test_lambda_api_changes_are_audited_as_the_key(server: RunningServer) -> None:
    before = _last_seq(server)
    client = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.key.id,
        aws_secret_access_key=server.key.secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )
    client.create_function(
        FunctionName="viaboto",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/lambeam",
        Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": APP})},
    )
    client.publish_version(FunctionName="viaboto")
    client.create_alias(FunctionName="viaboto", Name="live", FunctionVersion="1")
    client.update_function_configuration(FunctionName="viaboto", MemorySize=256)
    client.publish_version(FunctionName="viaboto")
    client.update_alias(FunctionName="viaboto", Name="live", FunctionVersion="2")
    client.put_function_concurrency(FunctionName="viaboto", ReservedConcurrentExecutions=3)
    client.delete_alias(FunctionName="viaboto", Name="live")
    client.delete_function(FunctionName="viaboto")
    actor = f"key:{server.key.id} ({server.key.name})"
    found = _since(server, before)
    assert {who for who, _, _ in found} == {actor}
    assert [(action, resource) for _, action, resource in found] == [
        ("lambda:CreateFunction", "function:viaboto"),
        ("lambda:PublishVersion", "function:viaboto:1"),
        ("lambda:CreateAlias", "function:viaboto:live"),
        ("lambda:UpdateFunctionConfiguration", "function:viaboto"),
        ("lambda:PublishVersion", "function:viaboto:2"),
        ("lambda:UpdateAlias", "function:viaboto:live"),
        ("lambda:PutFunctionConcurrency", "function:viaboto"),
        ("lambda:DeleteAlias", "function:viaboto:live"),
        ("lambda:DeleteFunction", "function:viaboto"),
    ]
    moved = entries(server.project.db, action="lambda:UpdateAlias")[-1]
    assert moved.details == {"version": ["1", "2"]}
    assert verify(server.project.db).ok
