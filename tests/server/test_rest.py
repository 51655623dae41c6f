"""The REST API under /v1 with Bearer tokens, against a real gateway: code and model functions."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sklearn.linear_model import LogisticRegression

from lambeam.registry import ModelVersion, set_alias
from tests.inference.conftest import CLASSIFIER_OUTPUTS, HELD_OUT, TRAIN, instances
from tests.registry.fitted import class_labels, fitted, register, signature
from tests.server.conftest import RunningServer, zip_of

APP = """\
def handler(event, context):
    if event.get("fail"):
        raise KeyError("missing")
    return {"got": event, "version": context.function_version}
"""


def call(
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    auth: bool = True,
) -> tuple[int, Any, dict[str, str]]:
    """(status, decoded JSON or None, headers) of one request; errors are answers too."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(server.bearer if auth else {})}
    request = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, dict(error.headers)
    return status, json.loads(raw) if raw else None, got


def test_health_needs_no_token_and_everything_else_does(gateway_server: RunningServer) -> None:
    status, health, _ = call(gateway_server, "GET", "/v1/health", auth=False)
    assert status == 200 and health["status"] in ("starting", "ready")
    status, body, headers = call(gateway_server, "GET", "/v1/functions", auth=False)
    assert status == 401 and body["error"]["type"] == "AuthenticationError"
    assert headers["www-authenticate"] == "Bearer"
    status, body, _ = call(gateway_server, "POST", "/v1/functions/x/invoke", {}, auth=False)
    assert status == 401
    bad = {"Authorization": f"Bearer {gateway_server.key.id}:wrong"}
    request = urllib.request.Request(gateway_server.url + "/v1/functions", headers=bad)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


def test_the_openapi_document_lists_every_route(gateway_server: RunningServer) -> None:
    status, document, _ = call(gateway_server, "GET", "/v1/openapi.json", auth=False)
    assert status == 200 and document["openapi"].startswith("3.")
    operations = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    assert ("/v1/functions/{name}/invoke", "POST") in operations
    assert ("/v1/functions/{name}/aliases/{alias}", "PATCH") in operations
    for path, method in operations:  # every documented operation exists (answers, not 404/405)
        concrete = path.replace("{name}", "nothing").replace("{alias}", "none")
        status, body, _ = call(gateway_server, method, concrete, {} if method != "GET" else None)
        routed = (body or {}).get("error", {}).get("type") not in ("NotFound", "MethodNotAllowed")
        assert status != 405 and routed, (path, method, status, body)


def test_a_code_function_over_rest(gateway_server: RunningServer) -> None:
    code = base64.b64encode(zip_of({"app.py": APP})).decode()
    status, created, _ = call(
        gateway_server,
        "POST",
        "/v1/functions",
        {"name": "greet", "code": code, "config": {"handler": "app.handler", "timeout_s": 5}},
    )
    assert status == 201 and created["kind"] == "code" and created["config"]["timeout_s"] == 5
    status, body, headers = call(gateway_server, "POST", "/v1/functions/greet/invoke", {"a": 1})
    assert (status, body) == (200, {"got": {"a": 1}, "version": "$LATEST"})
    assert headers["x-executed-version"] == "$LATEST" and headers["x-request-id"]

    status, body, _ = call(gateway_server, "POST", "/v1/functions/greet/invoke", {"fail": True})
    assert status == 502 and body["error"]["type"] == "KeyError"
    assert body["error"]["function_error"] == "Unhandled"
    status, body, _ = call(gateway_server, "POST", "/v1/functions/greet/invoke", b"not json")
    assert status == 400 and body["error"]["type"] == "InvalidPayloadError"  # the caller's fault
    assert body["error"]["message"].startswith("Could not parse request body into json")
    huge = b'{"n": ' + b"1" * 5000 + b"}"  # past Python's digits limit: refused, not a 500
    status, body, _ = call(gateway_server, "POST", "/v1/functions/greet/invoke", huge)
    assert status == 400 and body["error"]["type"] == "InvalidPayloadError"

    assert call(gateway_server, "POST", "/v1/functions/greet/versions", {})[1]["version"] == "1"
    status, _, _ = call(
        gateway_server, "PATCH", "/v1/functions/greet", {"config": {"memory_mb": 256}}
    )
    assert status == 200
    assert call(gateway_server, "POST", "/v1/functions/greet/versions", {})[1]["version"] == "2"
    status, alias, _ = call(
        gateway_server, "POST", "/v1/functions/greet/aliases", {"name": "live", "version": "1"}
    )
    assert status == 201 and alias["version"] == "1"
    status, alias, _ = call(
        gateway_server,
        "PATCH",
        "/v1/functions/greet/aliases/live",
        {"routing": {"additional_version": "2", "weight": 1.0}},
    )
    assert alias["routing"] == {"additional_version": "2", "weight": 1.0}
    _, body, headers = call(gateway_server, "POST", "/v1/functions/greet/invoke?qualifier=live", {})
    assert body["version"] == headers["x-executed-version"] == "2"
    _, listed, _ = call(gateway_server, "GET", "/v1/functions/greet/versions")
    assert [v["version"] for v in listed["versions"]] == ["$LATEST", "1", "2"]
    _, got, _ = call(gateway_server, "GET", "/v1/functions/greet?qualifier=1")
    assert got["version"] == "1" and got["config"]["memory_mb"] == 512

    status, body, _ = call(gateway_server, "GET", "/v1/functions/nope")
    assert status == 404 and body["error"]["type"] == "FunctionNotFoundError"
    # A misspelt or unknown field is a 400 naming it and what is taken, never silently ignored.
    for method, path, fields, words in [
        ("PATCH", "/v1/functions/greet", {"timeout": 20}, "unknown field 'timeout'; expected code"),
        (
            "PATCH",
            "/v1/functions/greet",
            {"config": {"timeout": 20}},
            "unknown configuration key 'timeout'; expected one of batching,",
        ),
        ("PATCH", "/v1/functions/greet/aliases/live", {"versoin": "2"}, "unknown field 'versoin'"),
        ("POST", "/v1/functions/greet/aliases", {"name": "x", "weights": {}}, "'weights'"),
        ("POST", "/v1/functions/greet/aliases", {"name": "x"}, "version is required"),
    ]:
        status, body, _ = call(gateway_server, method, path, fields)
        assert status == 400 and words in body["error"]["message"], (fields, body)
    assert call(gateway_server, "GET", "/v1/functions/greet")[1]["config"]["timeout_s"] == 5
    assert call(gateway_server, "DELETE", "/v1/functions/greet/aliases/live")[0] == 204
    assert call(gateway_server, "DELETE", "/v1/functions/greet")[0] == 204
    assert call(gateway_server, "GET", "/v1/functions/greet")[0] == 404


@pytest.fixture(scope="module")
def churn_api(gateway_server: RunningServer) -> ModelVersion:
    """A registered classifier aliased prod, and model function churn-api created over REST."""
    project = gateway_server.project
    pipeline = fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN))
    version = register(
        project.db,
        project.store,
        pipeline,
        model="churn",
        task="classification",
        sample=HELD_OUT,
        sig=signature(CLASSIFIER_OUTPUTS),
    )
    set_alias(project.db, "churn", "prod", version.number)
    status, created, _ = call(
        gateway_server,
        "POST",
        "/v1/functions",
        {
            "name": "churn-api",
            "model": "churn@prod",
            "config": {"batching": {"max_batch_size": 16, "max_wait_ms": 2}},
        },
    )
    assert status == 201 and created["kind"] == "model" and created["model"] == "churn@prod"
    return version


def test_a_model_function_answers_what_the_registry_model_predicts(
    gateway_server: RunningServer, churn_api: ModelVersion
) -> None:
    rows = HELD_OUT.head(7)
    expected = churn_api.load().predict(rows).tolist()
    status, body, _ = call(
        gateway_server,
        "POST",
        "/v1/functions/churn-api/invoke",
        {"instances": instances(rows), "probabilities": True},
    )
    assert status == 200 and body["predictions"] == expected
    assert body["model"] == "churn:1" and len(body["probabilities"]) == 7
    columns = {name: [row[name] for row in instances(rows)] for name in ("amount", "age", "city")}
    _, body, _ = call(gateway_server, "POST", "/v1/functions/churn-api/invoke", {"inputs": columns})
    assert body["predictions"] == expected

    row = {**instances(rows.head(1))[0], "zip_code": "1000"}
    status, body, _ = call(
        gateway_server, "POST", "/v1/functions/churn-api/invoke", {"instances": [row]}
    )
    assert status == 400 and body["error"]["field"] == "zip_code"
    assert "zip_code" in body["error"]["message"]
    status, body, _ = call(
        gateway_server,
        "POST",
        "/v1/functions/churn-api/invoke",
        {"instances": [{"amount": 1.0, "city": "oslo"}]},
    )
    assert status == 400 and body["error"]["field"] == "age"


def test_the_same_model_function_answers_over_the_lambda_api(
    gateway_server: RunningServer, churn_api: ModelVersion
) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=gateway_server.url,
        region_name="us-east-1",
        aws_access_key_id=gateway_server.key.id,
        aws_secret_access_key=gateway_server.key.secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )
    rows = HELD_OUT.tail(4)
    response = client.invoke(
        FunctionName="churn-api", Payload=json.dumps({"instances": instances(rows)}).encode()
    )
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    predictions = json.loads(response["Payload"].read())["predictions"]
    assert predictions == churn_api.load().predict(rows).tolist()
    assert client.publish_version(FunctionName="churn-api")["Version"] == "1"
    pinned = client.invoke(
        FunctionName="churn-api",
        Qualifier="1",
        Payload=json.dumps({"inputs": {"amount": [None], "age": [40.0], "city": ["quito"]}}),
    )
    assert pinned["ExecutedVersion"] == "1"
    assert json.loads(pinned["Payload"].read())["model"] == "churn:1"
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName="churn-api", Payload=b'{"instances": [{"zip": 1}]}')
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidRequestContentException"


def test_invoke_refusals_are_answered_in_the_rest_form(
    gateway_server: RunningServer, churn_api: ModelVersion
) -> None:
    path = "/v1/functions/churn-api/invoke"
    status, body, _ = call(gateway_server, "POST", path, b"{not json")
    assert status == 400 and "not JSON" in body["error"]["message"]
    status, body, _ = call(gateway_server, "POST", path, b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413 and body["error"]["type"] == "RequestTooLargeError"
    status, body, _ = call(gateway_server, "POST", "/v1/functions/nobody/invoke", {})
    assert status == 404
    status, body, _ = call(gateway_server, "POST", path + "?qualifier=9", {})
    assert status == 404 and "churn-api:9" in body["error"]["message"]
    status, body, headers = call(gateway_server, "POST", path, {}, auth=False)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    row = instances(HELD_OUT.head(1))
    wrong = {"Authorization": f"Bearer {gateway_server.key.id}:{'x' * 40}"}
    request = urllib.request.Request(
        gateway_server.url + path, json.dumps({"instances": row}).encode(), wrong, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
