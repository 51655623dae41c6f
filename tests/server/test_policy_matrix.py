"""For every route of both faces: no key, a wrong key, a key whose policy lacks the route's
permission and a key whose policy grants exactly it, against a real gateway.

The cases are keyed by the faces' own route tables (rest.ROUTES, lambda_api.ROUTES), so a new
route without a case here, or without an action there, fails this module.
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambeam.events.invoke_config import put_event_invoke_config
from lambeam.events.queues import create_queue
from lambeam.security import AccessKey, create_access_key, put_key_policy
from lambeam.server import lambda_api, rest
from lambeam.server._gateway import ANY_KEY
from tests.server.conftest import RunningServer, start_server
from tests.server.keyed import ZIP, arn, fresh_name
from tests.server.keyed import code_function as _function
from tests.server.keyed import key_with as _key
from tests.server.keyed import rest_call as _rest
from tests.server.mapping_cases import mapping_cases
from tests.server.schedule_cases import schedule_cases
from tests.server.topic_cases import topic_cases

_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("matrix")) / "proj")
    yield running
    running.stop()
    running.project.close()


def _nothing(name: str) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class Case:
    """How to call one route: `setup` makes what it acts on and returns its function's name;
    `call` makes the request; `action` and `resource(name)` are what the route must ask;
    `targets(name)` what the request points at (each (action, resource) also asked)."""

    setup: Callable[[RunningServer], str]
    call: Callable[[str], Any]  # REST: (method, path, body); Lambda: client -> response
    action: str
    resource: Callable[[str], str]
    status: int = 200
    targets: Callable[[str], list[tuple[str, str]]] = _nothing


def _new(server: RunningServer) -> str:
    return fresh_name()


_plain = _function


def _published(server: RunningServer) -> str:
    return _function(server, published=True)


def _aliased(server: RunningServer) -> str:
    return _function(server, alias=True)


def _any(name: str) -> str:
    return "*"


def _live(name: str) -> str:
    return arn(name) + ":live"


def _with_queue(server: RunningServer) -> str:
    """A fresh function and a queue of the same name."""
    name = _function(server)
    create_queue(server.project.db, name)
    return name


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:000000000000:{name}"


def _sends(name: str) -> list[tuple[str, str]]:
    """What a request sending to queue `name` needs."""
    return [("sqs:SendMessage", f"arn:aws:sqs:*:*:{name}")]


def _configured(server: RunningServer) -> str:
    """A fresh function with an event invoke config."""
    name = _function(server)
    put_event_invoke_config(server.project.db, name, maximum_retry_attempts=1)
    return name


_B64 = base64.b64encode(ZIP).decode()
REST_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/functions"): Case(
        _plain, lambda n: ("GET", "/v1/functions", None), "lambda:ListFunctions", _any
    ),
    ("POST", "/v1/functions"): Case(
        _new,
        lambda n: (
            "POST",
            "/v1/functions",
            {"name": n, "code": _B64, "config": {"handler": "app.handler"}},
        ),
        "lambda:CreateFunction",
        arn,
        201,
    ),
    ("GET", "/v1/functions/{name}"): Case(
        _plain, lambda n: ("GET", f"/v1/functions/{n}", None), "lambda:GetFunction", arn
    ),
    ("PATCH", "/v1/functions/{name}"): Case(
        _plain,
        lambda n: ("PATCH", f"/v1/functions/{n}", {"code": _B64}),
        "lambda:UpdateFunctionCode",
        arn,
    ),
    ("DELETE", "/v1/functions/{name}"): Case(
        _plain, lambda n: ("DELETE", f"/v1/functions/{n}", None), "lambda:DeleteFunction", arn, 204
    ),
    ("POST", "/v1/functions/{name}/versions"): Case(
        _plain,
        lambda n: ("POST", f"/v1/functions/{n}/versions", {}),
        "lambda:PublishVersion",
        arn,
        201,
    ),
    ("GET", "/v1/functions/{name}/versions"): Case(
        _plain,
        lambda n: ("GET", f"/v1/functions/{n}/versions", None),
        "lambda:ListVersionsByFunction",
        arn,
    ),
    ("GET", "/v1/functions/{name}/aliases"): Case(
        _plain, lambda n: ("GET", f"/v1/functions/{n}/aliases", None), "lambda:ListAliases", arn
    ),
    ("POST", "/v1/functions/{name}/aliases"): Case(
        _published,
        lambda n: ("POST", f"/v1/functions/{n}/aliases", {"name": "live", "version": "1"}),
        "lambda:CreateAlias",
        arn,
        201,
    ),
    ("GET", "/v1/functions/{name}/aliases/{alias}"): Case(
        _aliased,
        lambda n: ("GET", f"/v1/functions/{n}/aliases/live", None),
        "lambda:GetAlias",
        _live,
    ),
    ("PATCH", "/v1/functions/{name}/aliases/{alias}"): Case(
        _aliased,
        lambda n: ("PATCH", f"/v1/functions/{n}/aliases/live", {"description": "moved"}),
        "lambda:UpdateAlias",
        _live,
    ),
    ("DELETE", "/v1/functions/{name}/aliases/{alias}"): Case(
        _aliased,
        lambda n: ("DELETE", f"/v1/functions/{n}/aliases/live", None),
        "lambda:DeleteAlias",
        _live,
        204,
    ),
    ("POST", "/v1/functions/{name}/invoke"): Case(
        _aliased,
        lambda n: ("POST", f"/v1/functions/{n}/invoke?qualifier=live", {"x": 1}),
        "lambda:InvokeFunction",
        _live,
    ),
    # asynchronous invocation (rest_async.py)
    ("POST", "/v1/functions/{name}/invoke-async"): Case(
        _aliased,
        lambda n: ("POST", f"/v1/functions/{n}/invoke-async?qualifier=live", {"x": 1}),
        "lambda:InvokeFunction",
        _live,
        202,
    ),
    ("GET", "/v1/functions/{name}/event-invoke-config"): Case(
        _configured,
        lambda n: ("GET", f"/v1/functions/{n}/event-invoke-config", None),
        "lambda:GetFunctionEventInvokeConfig",
        arn,
    ),
    ("PUT", "/v1/functions/{name}/event-invoke-config"): Case(
        _with_queue,
        lambda n: (
            "PUT",
            f"/v1/functions/{n}/event-invoke-config",
            {"maximum_event_age": 60, "on_failure": _queue_arn(n)},
        ),
        "lambda:PutFunctionEventInvokeConfig",
        arn,
        targets=_sends,
    ),
    ("PATCH", "/v1/functions/{name}/event-invoke-config"): Case(
        _configured,
        lambda n: ("PATCH", f"/v1/functions/{n}/event-invoke-config", {"maximum_event_age": 60}),
        "lambda:UpdateFunctionEventInvokeConfig",
        arn,
    ),
    ("DELETE", "/v1/functions/{name}/event-invoke-config"): Case(
        _configured,
        lambda n: ("DELETE", f"/v1/functions/{n}/event-invoke-config", None),
        "lambda:DeleteFunctionEventInvokeConfig",
        arn,
        204,
    ),
    ("GET", "/v1/functions/{name}/event-invoke-configs"): Case(
        _configured,
        lambda n: ("GET", f"/v1/functions/{n}/event-invoke-configs", None),
        "lambda:ListFunctionEventInvokeConfigs",
        arn,
    ),
}
# Topics and object triggers (lambeam/server/rest_topics.py)
REST_CASES.update({route: Case(*case) for route, case in topic_cases().items()})
# Schedules (lambeam/server/rest_schedules.py)
REST_CASES.update({route: Case(*case) for route, case in schedule_cases().items()})

_FN = "/2015-03-31/functions/{name}"
_EIC = "/2019-09-25/functions/{name}/event-invoke-config"
LAMBDA_CASES: dict[tuple[str, str], Case] = {
    ("POST", _FN + "/invocations"): Case(
        _aliased,
        lambda n: lambda c: c.invoke(FunctionName=n, Qualifier="live", Payload=b"{}"),
        "lambda:InvokeFunction",
        _live,
    ),
    ("POST", "/2015-03-31/functions"): Case(
        _new,
        lambda n: (
            lambda c: c.create_function(
                FunctionName=n,
                Runtime="python3.11",
                Role="arn:aws:iam::000000000000:role/lambeam",
                Handler="app.handler",
                Code={"ZipFile": ZIP},
            )
        ),
        "lambda:CreateFunction",
        arn,
        201,
    ),
    ("GET", "/2015-03-31/functions"): Case(
        _plain, lambda n: lambda c: c.list_functions(), "lambda:ListFunctions", _any
    ),
    ("GET", _FN): Case(
        _plain, lambda n: lambda c: c.get_function(FunctionName=n), "lambda:GetFunction", arn
    ),
    ("DELETE", _FN): Case(
        _plain,
        lambda n: lambda c: c.delete_function(FunctionName=n),
        "lambda:DeleteFunction",
        arn,
        204,
    ),
    ("PUT", _FN + "/code"): Case(
        _plain,
        lambda n: lambda c: c.update_function_code(FunctionName=n, ZipFile=ZIP),
        "lambda:UpdateFunctionCode",
        arn,
    ),
    ("GET", _FN + "/configuration"): Case(
        _plain,
        lambda n: lambda c: c.get_function_configuration(FunctionName=n),
        "lambda:GetFunctionConfiguration",
        arn,
    ),
    ("PUT", _FN + "/configuration"): Case(
        _plain,
        lambda n: lambda c: c.update_function_configuration(FunctionName=n, Timeout=5),
        "lambda:UpdateFunctionConfiguration",
        arn,
    ),
    ("POST", _FN + "/versions"): Case(
        _plain,
        lambda n: lambda c: c.publish_version(FunctionName=n),
        "lambda:PublishVersion",
        arn,
        201,
    ),
    ("GET", _FN + "/versions"): Case(
        _plain,
        lambda n: lambda c: c.list_versions_by_function(FunctionName=n),
        "lambda:ListVersionsByFunction",
        arn,
    ),
    ("POST", _FN + "/aliases"): Case(
        _published,
        lambda n: lambda c: c.create_alias(FunctionName=n, Name="live", FunctionVersion="1"),
        "lambda:CreateAlias",
        arn,
        201,
    ),
    ("GET", _FN + "/aliases"): Case(
        _plain, lambda n: lambda c: c.list_aliases(FunctionName=n), "lambda:ListAliases", arn
    ),
    ("GET", _FN + "/aliases/{alias}"): Case(
        _aliased,
        lambda n: lambda c: c.get_alias(FunctionName=n, Name="live"),
        "lambda:GetAlias",
        _live,
    ),
    ("PUT", _FN + "/aliases/{alias}"): Case(
        _aliased,
        lambda n: lambda c: c.update_alias(FunctionName=n, Name="live", Description="moved"),
        "lambda:UpdateAlias",
        _live,
    ),
    ("DELETE", _FN + "/aliases/{alias}"): Case(
        _aliased,
        lambda n: lambda c: c.delete_alias(FunctionName=n, Name="live"),
        "lambda:DeleteAlias",
        _live,
        204,
    ),
    ("PUT", "/2017-10-31/functions/{name}/concurrency"): Case(
        _plain,
        lambda n: (
            lambda c: c.put_function_concurrency(FunctionName=n, ReservedConcurrentExecutions=2)
        ),
        "lambda:PutFunctionConcurrency",
        arn,
    ),
    ("DELETE", "/2017-10-31/functions/{name}/concurrency"): Case(
        _plain,
        lambda n: lambda c: c.delete_function_concurrency(FunctionName=n),
        "lambda:DeleteFunctionConcurrency",
        arn,
        204,
    ),
    ("GET", "/2019-09-30/functions/{name}/concurrency"): Case(
        _plain,
        lambda n: lambda c: c.get_function_concurrency(FunctionName=n),
        "lambda:GetFunctionConcurrency",
        arn,
    ),
    # asynchronous invocation's config (lambda_async.py)
    ("PUT", _EIC): Case(
        _with_queue,
        lambda n: (
            lambda c: c.put_function_event_invoke_config(
                FunctionName=n,
                MaximumRetryAttempts=1,
                DestinationConfig={"OnSuccess": {"Destination": _queue_arn(n)}},
            )
        ),
        "lambda:PutFunctionEventInvokeConfig",
        arn,
        targets=_sends,
    ),
    ("POST", _EIC): Case(
        _configured,
        lambda n: (
            lambda c: c.update_function_event_invoke_config(
                FunctionName=n, MaximumEventAgeInSeconds=60
            )
        ),
        "lambda:UpdateFunctionEventInvokeConfig",
        arn,
    ),
    ("GET", _EIC): Case(
        _configured,
        lambda n: lambda c: c.get_function_event_invoke_config(FunctionName=n),
        "lambda:GetFunctionEventInvokeConfig",
        arn,
    ),
    ("DELETE", _EIC): Case(
        _configured,
        lambda n: lambda c: c.delete_function_event_invoke_config(FunctionName=n),
        "lambda:DeleteFunctionEventInvokeConfig",
        arn,
        204,
    ),
    ("GET", _EIC + "/list"): Case(
        _configured,
        lambda n: lambda c: c.list_function_event_invoke_configs(FunctionName=n),
        "lambda:ListFunctionEventInvokeConfigs",
        arn,
    ),
}
# Event source mappings (lambeam/server/event_source_mappings.py)
_MAPPING_REST, _MAPPING_LAMBDA = mapping_cases()
REST_CASES.update({route: Case(*case) for route, case in _MAPPING_REST.items()})
LAMBDA_CASES.update({route: Case(*case) for route, case in _MAPPING_LAMBDA.items()})

OPEN_REST_ROUTES = {("GET", "/v1/health"), ("GET", "/v1/openapi.json")}


def test_every_route_has_an_action_and_a_case() -> None:
    rest_routes = {(m, p): need for p, m, _, need, _ in rest.ROUTES}
    assert {r for r, need in rest_routes.items() if need is None} == OPEN_REST_ROUTES
    assert set(rest_routes) - OPEN_REST_ROUTES == set(REST_CASES)
    for route, case in REST_CASES.items():
        assert rest_routes[route] is not None and rest_routes[route].action == case.action
    lambda_routes = {(m, p): need for p, m, _, need, _ in lambda_api.ROUTES}
    assert set(lambda_routes) == set(LAMBDA_CASES)
    for route, case in LAMBDA_CASES.items():
        assert lambda_routes[route] is not ANY_KEY and lambda_routes[route].action == case.action


def _lacking(server: RunningServer, action: str) -> AccessKey:
    return _key(
        server,
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": action, "Resource": "*"},
    )


def _granted(
    server: RunningServer, action: str, resource: str, targets: list[tuple[str, str]] = ()
) -> AccessKey:
    return _key(
        server,
        {"Effect": "Allow", "Action": action, "Resource": resource},
        *({"Effect": "Allow", "Action": a, "Resource": r} for a, r in targets),
    )


@pytest.mark.parametrize("route", sorted(REST_CASES), ids=" ".join)
def test_rest_route(server: RunningServer, route: tuple[str, str]) -> None:
    case = REST_CASES[route]
    name = case.setup(server)
    request = case.call(name)

    assert _rest(server, request, None)[0] == 401
    assert _rest(server, request, f"Bearer {server.key.id}:{'x' * 40}")[0] == 401
    assert _rest(server, request, "Bearer LBAKNOSUCHKEYNOSUCHK:" + "x" * 40)[0] == 401

    lacking = _lacking(server, case.action)
    status, body = _rest(server, request, f"Bearer {lacking.id}:{lacking.secret}")
    assert status == 403, body
    assert body["error"]["type"] == "AccessDeniedError"
    assert case.action in body["error"]["message"] and "explicit deny" in body["error"]["message"]

    targets = case.targets(name)
    if targets:  # the route's action alone is not enough for what the request points at
        alone = _granted(server, case.action, case.resource(name))
        status, body = _rest(server, request, f"Bearer {alone.id}:{alone.secret}")
        assert status == 403, body
        assert f"perform: {targets[0][0]} on resource" in body["error"]["message"]

    granted = _granted(server, case.action, case.resource(name), targets)
    status, body = _rest(server, request, f"Bearer {granted.id}:{granted.secret}")
    assert status == case.status, body


def _client(server: RunningServer, key_id: str, secret: str) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=_CONFIG,
    )


def _refused(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("route", sorted(LAMBDA_CASES), ids=" ".join)
def test_lambda_route(server: RunningServer, route: tuple[str, str]) -> None:
    case = LAMBDA_CASES[route]
    name = case.setup(server)
    operation = case.call(name)

    method, template = route
    path = template.replace("{name}", name).replace("{alias}", "live")
    unsigned = urllib.request.Request(server.url + path, b"{}" * (method != "GET"), method=method)
    with pytest.raises(urllib.error.HTTPError) as no_key:
        urllib.request.urlopen(unsigned, timeout=60)
    assert no_key.value.code == 401
    assert no_key.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"

    wrong = _client(server, server.key.id, "x" * 40)
    assert _refused(lambda: operation(wrong)) == ("InvalidSignatureException", 403)
    unknown = _client(server, "LBAKNOSUCHKEYNOSUCHK", "x" * 40)
    assert _refused(lambda: operation(unknown)) == ("UnrecognizedClientException", 403)

    lacking = _lacking(server, case.action)
    assert lacking.secret is not None
    client = _client(server, lacking.id, lacking.secret)
    with pytest.raises(ClientError) as denied:
        operation(client)
    error = denied.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert case.action in error["Error"]["Message"]

    targets = case.targets(name)
    if targets:  # the route's action alone is not enough for what the request points at
        alone = _granted(server, case.action, case.resource(name))
        assert alone.secret is not None
        with pytest.raises(ClientError) as short:
            operation(_client(server, alone.id, alone.secret))
        assert short.value.response["Error"]["Code"] == "AccessDeniedException"
        assert targets[0][0] in short.value.response["Error"]["Message"]

    granted = _granted(server, case.action, case.resource(name), targets)
    assert granted.secret is not None
    response = operation(_client(server, granted.id, granted.secret))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == case.status


def test_open_routes_and_unimplemented_operations(server: RunningServer) -> None:
    for method, path in sorted(OPEN_REST_ROUTES):
        assert _rest(server, (method, path, None), None)[0] == 200
    # an operation lambeam does not implement acts on nothing: any key is told so, none is not
    nothing = _key(server, {"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert nothing.secret is not None
    client = _client(server, nothing.id, nothing.secret)
    assert _refused(lambda: client.list_layers()) == ("UnknownOperationException", 404)
    unsigned = urllib.request.Request(server.url + "/2018-10-31/layers", method="GET")
    with pytest.raises(urllib.error.HTTPError) as no_key:
        urllib.request.urlopen(unsigned, timeout=60)
    assert no_key.value.code == 401


def test_a_role_without_a_policy_and_a_policy_change_within_seconds(
    server: RunningServer,
) -> None:
    name = _function(server)
    invoker = create_access_key(server.project.db, "role only", role="invoker")
    bearer = f"Bearer {invoker.id}:{invoker.secret}"
    assert _rest(server, ("POST", f"/v1/functions/{name}/invoke", {}), bearer)[0] == 200
    assert _rest(server, ("GET", f"/v1/functions/{name}", None), bearer)[0] == 403
    put_key_policy(
        server.project.db,
        invoker.id,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*"}],
        },
    )
    # the server reuses a policy it read for a second: bounded polling until the change shows
    deadline = time.monotonic() + 10
    while _rest(server, ("GET", f"/v1/functions/{name}", None), bearer)[0] != 200:
        assert time.monotonic() < deadline, "the new policy did not apply within 10 s"
        time.sleep(0.2)
    assert _rest(server, ("POST", f"/v1/functions/{name}/invoke", {}), bearer)[0] == 403


def test_changes_through_the_server_are_recorded_as_the_key(server: RunningServer) -> None:
    from lambeam.storage.audit import entries

    key = _granted(server, "lambda:CreateFunction", "*")
    name = _new(server)
    request = REST_CASES[("POST", "/v1/functions")].call(name)
    assert _rest(server, request, f"Bearer {key.id}:{key.secret}")[0] == 201
    created = entries(
        server.project.db, action="lambda:CreateFunction", resource_prefix=f"function:{name}"
    )
    created = [e for e in created if e.resource == f"function:{name}"]
    assert [e.actor for e in created] == [f"key:{key.id} ({key.name})"]
