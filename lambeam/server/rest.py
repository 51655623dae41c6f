"""The REST API under /v1: functions, versions, aliases, invoke, health, and its OpenAPI document.

Authentication is `Authorization: Bearer <key id>:<secret>` (lambeam.security.authenticate_bearer)
on every route but health and the OpenAPI document, and each of those routes names the action
and resource the key's policy must allow (ROUTES; a 403 AccessDeniedError otherwise). Errors are `{"error": {"type", "message"}}`
with the error's http_status, mapped in `_error`; a model request's refusal also names its
`field`. A function that fails (its handler raised, timed out, ran out of memory) answers 502 with
Lambda's error document under "error", as API Gateway does for a failed Lambda proxy.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lambeam.errors import ConfigError, LambeamError
from lambeam.functions import (
    CodeBundle,
    FunctionConfig,
    create_alias,
    create_function,
    delete_alias,
    delete_function,
    get_alias,
    get_function,
    list_aliases,
    list_functions,
    list_versions,
    publish_version,
    remove_function_files,
    update_alias,
    update_function_code,
    update_function_configuration,
)
from lambeam.invoke import MAX_PAYLOAD_BYTES, Invocation, InvocationRequest
from lambeam.invoke.request import MAX_EVENT_PAYLOAD_BYTES
from lambeam.security import AccessKey, authenticate_bearer, bearer_key_id
from lambeam.server import event_source_mappings, rest_async, rest_schedules, rest_topics
from lambeam.server._gateway import (
    Admit,
    Admitted,
    Gateway,
    Handler,
    Permission,
    endpoint,
    function_resource,
    still_enabled,
)
from lambeam.server._requests import MAX_MANAGEMENT_BODY, json_object, read_body
from lambeam.server.openapi import openapi_document

__all__ = [
    "INVOKE",
    "ROUTES",
    "check_bearer",
    "invoke_ok_headers",
    "invoke_response",
    "rest_error",
    "rest_routes",
]

_log = logging.getLogger(__name__)


def _bearer(body_limit: int, auth: bool) -> Admit:
    """Check the bearer token (before reading anything), then read at most `body_limit` bytes."""

    async def admit(request: Request, gw: Gateway) -> Admitted:
        key = None
        if auth and gw.auth:
            key = await check_bearer(gw, request.headers.get("authorization"))
        body = await read_body(request, body_limit)
        if key is not None:
            await still_enabled(gw, key)
        return Admitted(key, body)

    return admit


async def check_bearer(gw: Gateway, authorization: str | None) -> AccessKey:
    """The REST API's authentication: the key, or a 401. Credentials that passed within the
    second cost one lookup; a database read, when one is due, runs in a thread."""
    known = gw.keys.passed(authorization)
    if known is not None:
        return known
    if gw.keys.fresh(bearer_key_id(authorization)):
        return authenticate_bearer(gw.keys, authorization)
    return await asyncio.to_thread(authenticate_bearer, gw.keys, authorization)


def rest_error(exc: Exception) -> Response:
    """The one place REST errors are put on the wire."""
    if isinstance(exc, LambeamError):
        status, kind, message = exc.http_status, type(exc).__name__, str(exc)
    else:
        status, kind, message = 500, "InternalError", "internal error"
    if status >= 500:
        _log.exception("the REST API failed", exc_info=exc)
    error: dict[str, Any] = {"type": kind, "message": message}
    field = getattr(exc, "field", None)
    if field is not None:
        error["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error}, status_code=status, headers=headers)


# What invoking asks, here and on InvokeFastPath: lambda:InvokeFunction on the function's ARN,
# qualified as the call is.
# The query parameter naming a version or alias: the handlers and the permission check read it.
QUALIFIER = "qualifier"
INVOKE = Permission("lambda:InvokeFunction", function_resource(query=QUALIFIER))


def _qualifier(request: Request) -> str | None:
    return request.query_params.get(QUALIFIER) or None


def _bundle(value: object) -> CodeBundle:
    if not isinstance(value, str) or not value:
        raise ConfigError("code must be the function's zip, base64-encoded")
    try:
        return CodeBundle.from_zip(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise ConfigError("code is not valid base64") from None


def _config(fields: Mapping[str, Any], kind: str, base: FunctionConfig | None) -> FunctionConfig:
    """A FunctionConfig from `fields["config"]` (lambeam's field names) over `base`."""
    given = fields.get("config") or {}
    if not isinstance(given, Mapping):
        raise ConfigError("config must be an object")
    data = base.to_dict() if base is not None else {"kind": kind}
    data.pop("requirements_sha256", None)
    data.update(given)
    config = FunctionConfig.from_dict(data)
    if base is not None:
        config = replace(config, requirements_sha256=base.requirements_sha256)
    return config


async def _health(request: Request, gw: Gateway, body: bytes) -> Response:
    """`starting` while the runtime's zygote imports (invocations wait for it), then `ready`;
    `failed` (a 503, with the reason) when it could not start."""
    engine = gw.engine
    answer: dict[str, Any] = {
        "status": engine.state,
        "zygote": engine.zygote_pid,
        "server_id": gw.server_id,
        # Which confinement instances get: known once the engine has probed the host.
        "isolation": engine.isolation.to_dict() if engine.state == "ready" else None,
    }
    if engine.state == "failed":
        answer["error"] = engine.failure
    return JSONResponse(answer, status_code=503 if engine.state == "failed" else 200)


async def _openapi(request: Request, gw: Gateway, body: bytes) -> Response:
    table = [(path, method, summary, need is not None) for path, method, _, need, summary in ROUTES]
    return JSONResponse(openapi_document(table))


async def _list(request: Request, gw: Gateway, body: bytes) -> Response:
    infos = await asyncio.to_thread(list_functions, gw.project.db)
    return JSONResponse({"functions": [info.to_dict() for info in infos]})


async def _create(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("name", "code", "model", "config"))
    name = fields.get("name")
    if not isinstance(name, str):
        raise ConfigError("name is required")
    if ("code" in fields) == ("model" in fields):
        raise ConfigError('send exactly one of "code" (a base64 zip) or "model" ("churn@prod")')
    kind = "code" if "code" in fields else "model"
    config = _config(fields, kind, None)
    bundle = _bundle(fields["code"]) if kind == "code" else None
    model = fields.get("model")
    info = await asyncio.to_thread(
        create_function, gw.project.db, gw.project.store, name, config, bundle, model
    )
    return JSONResponse(info.to_dict(), status_code=201)


async def _get(request: Request, gw: Gateway, body: bytes) -> Response:
    name = request.path_params["name"]
    info = await asyncio.to_thread(get_function, gw.project.db, name, _qualifier(request))
    return JSONResponse(info.to_dict())


async def _update(request: Request, gw: Gateway, body: bytes) -> Response:
    name = request.path_params["name"]
    fields = json_object(body, fields=("code", "model", "config", "revision_id"))
    db, store = gw.project.db, gw.project.store

    def update() -> Any:
        revision = fields.get("revision_id")
        info = get_function(db, name)
        if "code" in fields or "model" in fields:
            bundle = _bundle(fields["code"]) if "code" in fields else None
            info = update_function_code(db, store, name, bundle, fields.get("model"), revision)
            revision = info.revision_id
        if "config" in fields:
            config = _config(fields, info.kind, info.config)
            info = update_function_configuration(db, name, config, revision, store=store)
        return info

    return JSONResponse((await asyncio.to_thread(update)).to_dict())


async def _delete(request: Request, gw: Gateway, body: bytes) -> Response:
    name, qualifier = request.path_params["name"], _qualifier(request)
    digests = await asyncio.to_thread(delete_function, gw.project.db, name, qualifier)
    if qualifier is None:
        await gw.invoker.function_changed(name)  # its instances go before their code does
    await asyncio.to_thread(
        remove_function_files,
        gw.project.db,
        gw.project.settings.state_dir,
        digests,
        name if qualifier is None else None,
    )
    return Response(status_code=204)


async def _publish(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("description", "revision_id"))
    info = await asyncio.to_thread(
        publish_version,
        gw.project.db,
        gw.project.store,
        request.path_params["name"],
        fields.get("description") or "",
        fields.get("revision_id"),
    )
    return JSONResponse(info.to_dict(), status_code=201)


async def _versions(request: Request, gw: Gateway, body: bytes) -> Response:
    infos = await asyncio.to_thread(list_versions, gw.project.db, request.path_params["name"])
    return JSONResponse({"versions": [info.to_dict() for info in infos]})


async def _aliases(request: Request, gw: Gateway, body: bytes) -> Response:
    aliases = await asyncio.to_thread(list_aliases, gw.project.db, request.path_params["name"])
    return JSONResponse({"aliases": [alias.to_dict() for alias in aliases]})


async def _create_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("name", "version", "routing", "description"))
    for required in ("name", "version"):
        if required not in fields:
            raise ConfigError(
                f"{required} is required: the alias's name and the version it points at"
                " (a published number or $LATEST)"
            )
    alias_name: Any = fields["name"]  # create_alias checks both
    version: Any = fields["version"]
    alias = await asyncio.to_thread(
        create_alias,
        gw.project.db,
        request.path_params["name"],
        alias_name,
        version,
        fields.get("routing"),
        fields.get("description") or "",
    )
    return JSONResponse(alias.to_dict(), status_code=201)


async def _get_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    params = request.path_params
    alias = await asyncio.to_thread(get_alias, gw.project.db, params["name"], params["alias"])
    return JSONResponse(alias.to_dict())


async def _update_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    params = request.path_params
    fields = json_object(body, fields=("version", "routing", "description", "revision_id"))
    # `"routing": null` clears the routing; leaving the key out keeps it.
    routing = (fields["routing"] or {}) if "routing" in fields else None
    alias = await asyncio.to_thread(
        update_alias,
        gw.project.db,
        params["name"],
        params["alias"],
        fields.get("version"),
        routing,
        fields.get("description"),
        fields.get("revision_id"),
    )
    return JSONResponse(alias.to_dict())


async def _delete_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    params = request.path_params
    await asyncio.to_thread(delete_alias, gw.project.db, params["name"], params["alias"])
    return Response(status_code=204)


async def _invoke(request: Request, gw: Gateway, body: bytes) -> Response:
    # The hot path is answered by InvokeFastPath before Starlette routes; this route is the
    # same call for an app built without it, and what the OpenAPI document lists.
    asked = InvocationRequest(request.path_params["name"], body, _qualifier(request))
    return invoke_response(await gw.invoker.handle(asked))


def invoke_ok_headers(result: Invocation) -> list[tuple[bytes, bytes]]:
    """The raw headers of a successful invocation's 200 (its body is `result.payload`)."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(result.payload)).encode()),
        (b"x-request-id", result.request_id.encode()),
    ]
    if result.executed_version:
        headers.append((b"x-executed-version", result.executed_version.encode()))
    return headers


def invoke_response(result: Invocation) -> Response:
    """The REST answer to an invocation: its payload (200), or 502 naming the function's error."""
    if result.function_error is None:
        response = Response(result.payload)
        response.raw_headers = invoke_ok_headers(result)
        return response
    headers = {"X-Request-Id": result.request_id}
    if result.executed_version:
        headers["X-Executed-Version"] = result.executed_version
    try:
        document = json.loads(result.payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = {}
    error = {
        "type": document.get("errorType", result.error_type or "FunctionError"),
        "message": document.get("errorMessage", "the function failed"),
        "function_error": result.function_error,
        "request_id": result.request_id,
    }
    if "stackTrace" in document:
        error["stack_trace"] = document["stackTrace"]
    return JSONResponse({"error": error}, status_code=502, headers=headers)


def _created(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the function a create names ("*" when the body names none: only a key that
    may create any function is then told what is wrong with it)."""
    try:
        name = json.loads(body).get("name")
    except (ValueError, AttributeError, RecursionError):
        name = None
    return gw.arn(name) if isinstance(name, str) and name else "*"


def _update_actions(body: bytes) -> tuple[str, ...]:
    """A PATCH needs UpdateFunctionCode for new code or a model, UpdateFunctionConfiguration
    for config (both when the body says neither clearly)."""
    try:
        fields = json.loads(body)
        keys = set(fields) if isinstance(fields, dict) else set()
    except (ValueError, RecursionError):
        keys = set()
    code, config = bool(keys & {"code", "model"}), "config" in keys
    if not code and not config:
        code = config = True
    return (("lambda:UpdateFunctionCode",) if code else ()) + (
        ("lambda:UpdateFunctionConfiguration",) if config else ()
    )


def _allow(action: str, resource: Any = None) -> Permission:
    return Permission(f"lambda:{action}", resource or function_resource(query=QUALIFIER))


_ANYWHERE = Permission("lambda:ListFunctions", lambda request, gw, body: "*")
_FUNCTION = function_resource(query=QUALIFIER, qualified=False)
_ALIAS = function_resource(query=QUALIFIER, alias=True)

# (path, method, handler, permission, summary) — None: an open route. The OpenAPI document is
# built from this table, and tests/server/test_policy_matrix.py walks it.
ROUTES: list[tuple[str, str, Handler, Permission | None, str]] = [
    ("/v1/health", "GET", _health, None, "Health: starting, ready or failed (its runtime)"),
    ("/v1/openapi.json", "GET", _openapi, None, "This OpenAPI document"),
    ("/v1/functions", "GET", _list, _ANYWHERE, "List functions ($LATEST of each)"),
    (
        "/v1/functions",
        "POST",
        _create,
        _allow("CreateFunction", _created),
        "Create a function from a base64 zip or a model",
    ),
    (
        "/v1/functions/{name}",
        "GET",
        _get,
        _allow("GetFunction"),
        "Get a function (?qualifier=version or alias)",
    ),
    (
        "/v1/functions/{name}",
        "PATCH",
        _update,
        Permission("lambda:UpdateFunctionCode", _FUNCTION, _update_actions),
        "Update $LATEST's code, model or config",
    ),
    (
        "/v1/functions/{name}",
        "DELETE",
        _delete,
        _allow("DeleteFunction"),
        "Delete a function, or ?qualifier=N",
    ),
    (
        "/v1/functions/{name}/versions",
        "POST",
        _publish,
        _allow("PublishVersion", _FUNCTION),
        "Publish $LATEST as a version",
    ),
    (
        "/v1/functions/{name}/versions",
        "GET",
        _versions,
        _allow("ListVersionsByFunction", _FUNCTION),
        "List $LATEST and versions",
    ),
    (
        "/v1/functions/{name}/aliases",
        "GET",
        _aliases,
        _allow("ListAliases", _FUNCTION),
        "List aliases",
    ),
    (
        "/v1/functions/{name}/aliases",
        "POST",
        _create_alias,
        _allow("CreateAlias", _FUNCTION),
        "Create an alias",
    ),
    (
        "/v1/functions/{name}/aliases/{alias}",
        "GET",
        _get_alias,
        _allow("GetAlias", _ALIAS),
        "Get an alias",
    ),
    (
        "/v1/functions/{name}/aliases/{alias}",
        "PATCH",
        _update_alias,
        _allow("UpdateAlias", _ALIAS),
        "Move an alias",
    ),
    (
        "/v1/functions/{name}/aliases/{alias}",
        "DELETE",
        _delete_alias,
        _allow("DeleteAlias", _ALIAS),
        "Delete an alias",
    ),
    (
        "/v1/functions/{name}/invoke",
        "POST",
        _invoke,
        INVOKE,
        "Invoke (?qualifier=)",
    ),
    # Asynchronous invocation (lambeam/server/rest_async.py)
    (
        "/v1/functions/{name}/invoke-async",
        "POST",
        rest_async.invoke_async,
        INVOKE,
        "Invoke asynchronously (?qualifier=): 202 with the request id once committed",
    ),
    (
        "/v1/functions/{name}/event-invoke-config",
        "GET",
        rest_async.get_config,
        _allow("GetFunctionEventInvokeConfig"),
        "Get the asynchronous-invocation config (?qualifier=)",
    ),
    (
        "/v1/functions/{name}/event-invoke-config",
        "PUT",
        rest_async.put_config,
        _allow("PutFunctionEventInvokeConfig"),
        "Set the asynchronous-invocation config: retries, event age, destinations",
    ),
    (
        "/v1/functions/{name}/event-invoke-config",
        "PATCH",
        rest_async.update_config,
        _allow("UpdateFunctionEventInvokeConfig"),
        "Change fields of the asynchronous-invocation config",
    ),
    (
        "/v1/functions/{name}/event-invoke-config",
        "DELETE",
        rest_async.delete_config,
        _allow("DeleteFunctionEventInvokeConfig"),
        "Delete the asynchronous-invocation config",
    ),
    (
        "/v1/functions/{name}/event-invoke-configs",
        "GET",
        rest_async.list_configs,
        _allow("ListFunctionEventInvokeConfigs", _FUNCTION),
        "List every qualifier's asynchronous-invocation config",
    ),
    # Topics and object triggers (lambeam/server/rest_topics.py)
    *rest_topics.ROUTES,
    # Schedules (lambeam/server/rest_schedules.py)
    *rest_schedules.ROUTES,
]
# Routes that invoke (a call, not a change: the invoker keeps what it cached), by body limit.
_INVOKING: dict[Handler, int] = {
    _invoke: MAX_PAYLOAD_BYTES,
    rest_async.invoke_async: MAX_EVENT_PAYLOAD_BYTES,
}

# Event source mappings (lambeam/server/event_source_mappings.py)
ROUTES += event_source_mappings.REST_ROUTES


def rest_routes() -> list[BaseRoute]:
    """The REST API's routes."""
    routes: list[BaseRoute] = []
    for path, method, handler, permission, _summary in ROUTES:
        limit = _INVOKING.get(handler, MAX_MANAGEMENT_BODY)
        admit = _bearer(limit, permission is not None)
        answer = endpoint(handler, admit, rest_error, permission, invokes=handler in _INVOKING)
        routes.append(Route(path, answer, methods=[method]))
    return routes
