"""The Lambda API under /2015-03-31/ (and /2017-10-31/ for concurrency): enough for boto3.

An unmodified boto3 `lambda` client with `endpoint_url` set to the server, and the project's
access key id and secret, can create, invoke, version and alias code functions. Every request is
verified with AWS Signature V4: its headers first (lambeam.security.begin_sigv4: an unsigned
request, an unknown or disabled key, a wrong scope or a stale date is refused before a byte of
the body is read), then the signature over the body, hashed as it is read. Each route names the
action and resource the key's policy must allow (`ROUTES`), as IAM does for Lambda. A header
that changes what a call does (X-Amz-Invocation-Type, X-Amz-Log-Type, X-Amz-Client-Context)
counts only when the signature covers it, as AWS requires; an unsigned one is ignored.
Errors are Lambda's: a JSON body `{"Type": "User", "message": …}` and the error code in
`x-amzn-ErrorType`, mapped in `_error` (AccessDeniedException as IAM answers it:
`{"Message": …}`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lambeam.errors import ConfigError, LambeamError, UnsupportedOperationError
from lambeam.functions import (
    FunctionConfig,
    FunctionInfo,
    FunctionNotFoundError,
    PreconditionFailedError,
    create_alias,
    create_function,
    delete_alias,
    delete_function,
    delete_function_concurrency,
    get_alias,
    get_function,
    list_aliases,
    list_functions,
    list_versions,
    publish_version,
    put_function_concurrency,
    remove_function_files,
    update_alias,
    update_function_code,
    update_function_configuration,
)
from lambeam.invoke import MAX_PAYLOAD_BYTES, InvocationRequest
from lambeam.runtime import TooManyRequestsError
from lambeam.runtime.spec import split_function_name
from lambeam.security import (
    MISSING_AUTHENTICATION_TOKEN,
    AccessDeniedError,
    AuthenticationError,
)
from lambeam.server import event_source_mappings, lambda_async
from lambeam.server._gateway import (
    ANY_KEY,
    Gateway,
    Handler,
    Permission,
    authorize_targets,
    delivery_target,
    endpoint,
    function_resource,
)
from lambeam.server._lambda_shapes import (
    alias_configuration,
    code_from_zip_field,
    config_with,
    function_configuration,
    page,
    routing_from,
)
from lambeam.server._requests import MAX_MANAGEMENT_BODY, json_object
from lambeam.server._signed import signed, signed_header

__all__ = ["ROUTES", "lambda_routes"]

_log = logging.getLogger(__name__)

_BASE = "/2015-03-31/functions"
Item = TypeVar("Item")
_VERSION = re.compile(r"\$LATEST|[1-9][0-9]*")


def _endpoint(
    handler: Handler, permission: Permission, body_limit: int = MAX_MANAGEMENT_BODY
) -> Callable[[Request], Awaitable[Response]]:
    return endpoint(handler, signed(body_limit), _error, permission, invokes=handler is _invoke)


def _error(exc: Exception) -> Response:
    """The one place Lambda API errors are put on the wire."""
    status, code, kind = 500, "ServiceException", "Service"
    extra: dict[str, Any] = {}
    if isinstance(exc, AuthenticationError):
        status = 401 if exc.error_code == MISSING_AUTHENTICATION_TOKEN else 403
        code = exc.error_code
    elif isinstance(exc, AccessDeniedError):  # IAM's own shape: "Message", no "Type"
        return JSONResponse(
            {"Message": str(exc)}, status_code=403, headers={"x-amzn-ErrorType": exc.lambda_error}
        )
    elif isinstance(exc, LambeamError):
        status, code = exc.http_status, exc.lambda_error
        if isinstance(exc, TooManyRequestsError):
            extra["Reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded"
    if status < 500:
        kind = "User"
        message = str(exc)
    else:
        _log.exception("the Lambda API failed", exc_info=exc)
        message = str(exc) if isinstance(exc, LambeamError) else "internal error"
    return JSONResponse(
        {"Type": kind, "message": message, **extra},
        status_code=status,
        headers={"x-amzn-ErrorType": code},
    )


def _name_and_qualifier(request: Request) -> tuple[str, str | None]:
    """FunctionName (a name, `name:qualifier`, or an ARN) and the Qualifier parameter."""
    return split_function_name(request.path_params["name"], request.query_params.get("Qualifier"))


def _json(value: Any, status: int = 200) -> Response:
    return JSONResponse(value, status_code=status)


def _shape(gw: Gateway, info: Any) -> dict[str, Any]:
    return function_configuration(info, gw.project.store, gw.engine.region, gw.engine.account_id)


def _paged(
    request: Request,
    field: str,
    items: Sequence[Item],
    key: Callable[[Item], Any],
    shape: Callable[[Item], dict[str, Any]],
) -> Response:
    """A listing's page by its Marker and MaxItems parameters, with NextMarker when more follow."""
    params = request.query_params
    chosen, next_marker = page(items, key, params.get("Marker"), params.get("MaxItems"))
    answer: dict[str, Any] = {field: [shape(item) for item in chosen]}
    if next_marker is not None:
        answer["NextMarker"] = next_marker
    return _json(answer)


def _version_key(info: FunctionInfo) -> tuple[str, int]:
    """A listing's order: by function name, then $LATEST before the published versions."""
    return info.name, info.number or 0


async def _invoke(request: Request, gw: Gateway, body: bytes) -> Response:
    name, qualifier = _name_and_qualifier(request)
    asked = InvocationRequest(
        name,
        body,
        qualifier,
        invocation_type=signed_header(request, "x-amz-invocation-type") or "RequestResponse",
        log_type=signed_header(request, "x-amz-log-type"),
        source="lambda",
    )
    result = await gw.invoker.handle(asked)
    headers = {"x-amzn-RequestId": result.request_id}
    if result.executed_version and result.status == 200:
        headers["X-Amz-Executed-Version"] = result.executed_version
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if result.log_result is not None:
        headers["X-Amz-Log-Result"] = result.log_result
    return Response(
        result.payload, status_code=result.status, headers=headers, media_type="application/json"
    )


async def _create_function(request: Request, gw: Gateway, body: bytes) -> Response:
    db, store = gw.project.db, gw.project.store

    # Parsing the JSON and decoding the zip (up to 70 MB) happen in threads, off the event loop.
    fields = await asyncio.to_thread(json_object, body)
    await authorize_targets(request, gw, _dead_letter_targets(gw, fields))

    def create() -> Any:
        name = fields.get("FunctionName")
        if not isinstance(name, str):
            raise ConfigError("FunctionName is required")
        code = fields.get("Code") or {}
        if not isinstance(code, dict) or "ZipFile" not in code:
            raise ConfigError("Code.ZipFile is required: lambeam takes the function's zip inline")
        bundle = code_from_zip_field(code["ZipFile"], "Code.ZipFile")
        config = config_with(FunctionConfig(kind="code", handler=fields.get("Handler")), fields)
        info = create_function(db, store, name, config, code=bundle)
        return publish_version(db, store, name) if fields.get("Publish") else info

    return _json(_shape(gw, await asyncio.to_thread(create)), 201)


def _dead_letter_targets(gw: Gateway, fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the key must be allowed to send to as the function's DeadLetterConfig target
    (sqs:SendMessage on a queue, sns:Publish on a topic): a failed event is delivered there."""
    dead_letter = fields.get("DeadLetterConfig")
    target = dead_letter.get("TargetArn") if isinstance(dead_letter, Mapping) else None
    if not isinstance(target, str) or not target:
        return []  # none, or cleared (a malformed one is refused by config_with)
    parts = target.split(":")
    if len(parts) == 6 and parts[0] == "arn" and parts[2] in ("sqs", "sns"):
        kind = "queue" if parts[2] == "sqs" else "topic"
        return [delivery_target(gw, kind, parts[5])]
    return [delivery_target(gw, "queue", target)]  # a bare name is a queue's


async def _get_function(request: Request, gw: Gateway, body: bytes) -> Response:
    name, qualifier = _name_and_qualifier(request)
    info = await asyncio.to_thread(get_function, gw.project.db, name, qualifier)
    answer: dict[str, Any] = {
        "Configuration": _shape(gw, info),
        "Code": {"RepositoryType": "S3", "Location": ""},
    }
    if info.config.reserved_concurrency is not None:
        answer["Concurrency"] = {"ReservedConcurrentExecutions": info.config.reserved_concurrency}
    return _json(answer)


async def _get_configuration(request: Request, gw: Gateway, body: bytes) -> Response:
    name, qualifier = _name_and_qualifier(request)
    info = await asyncio.to_thread(get_function, gw.project.db, name, qualifier)
    return _json(_shape(gw, info))


async def _list_functions(request: Request, gw: Gateway, body: bytes) -> Response:
    which = request.query_params.get("FunctionVersion")
    if which not in (None, "ALL"):
        raise ConfigError(f"FunctionVersion must be ALL, not {which!r}")
    db = gw.project.db

    def listing() -> list[FunctionInfo]:
        latest = list_functions(db)
        if which is None:
            return latest
        every: list[FunctionInfo] = []
        for function in latest:
            try:
                every += list_versions(db, function.name)
            except FunctionNotFoundError:  # deleted since the first query: not listed
                continue
        return every

    infos = await asyncio.to_thread(listing)
    return _paged(request, "Functions", infos, _version_key, lambda info: _shape(gw, info))


async def _delete_function(request: Request, gw: Gateway, body: bytes) -> Response:
    name, qualifier = _name_and_qualifier(request)
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


async def _update_code(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    db, store = gw.project.db, gw.project.store

    def update() -> Any:
        fields = json_object(body)  # and the zip's base64: off the event loop
        bundle = code_from_zip_field(fields.get("ZipFile"))
        info = update_function_code(
            db, store, name, code=bundle, expected_revision=fields.get("RevisionId")
        )
        return publish_version(db, store, name) if fields.get("Publish") else info

    return _json(_shape(gw, await asyncio.to_thread(update)))


async def _update_configuration(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    fields = json_object(body)
    db = gw.project.db
    await authorize_targets(request, gw, _dead_letter_targets(gw, fields))

    def update() -> Any:
        current = get_function(db, name)
        config = config_with(current.config, fields)
        return update_function_configuration(
            db, name, config, expected_revision=fields.get("RevisionId"), store=gw.project.store
        )

    return _json(_shape(gw, await asyncio.to_thread(update)))


async def _publish(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    fields = json_object(body)
    db, store = gw.project.db, gw.project.store

    def publish() -> Any:
        expected_sha = fields.get("CodeSha256")
        if expected_sha is not None and get_function(db, name).code_sha256_b64 != expected_sha:
            raise PreconditionFailedError(
                f"function {name!r}: CodeSha256 {expected_sha} is not $LATEST's code"
            )
        return publish_version(
            db,
            store,
            name,
            description=fields.get("Description") or "",
            expected_revision=fields.get("RevisionId"),
        )

    return _json(_shape(gw, await asyncio.to_thread(publish)), 201)


async def _list_versions(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    infos = await asyncio.to_thread(list_versions, gw.project.db, name)
    return _paged(request, "Versions", infos, _version_key, lambda info: _shape(gw, info))


async def _create_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    fields = json_object(body)
    alias_name: Any = fields.get("Name")  # create_alias checks both
    version: Any = fields.get("FunctionVersion")
    alias = await asyncio.to_thread(
        create_alias,
        gw.project.db,
        name,
        alias_name,
        version,
        routing_from(fields.get("RoutingConfig")),
        fields.get("Description") or "",
    )
    return _json(alias_configuration(alias, gw.engine.region, gw.engine.account_id), 201)


async def _get_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    alias = await asyncio.to_thread(get_alias, gw.project.db, name, request.path_params["alias"])
    return _json(alias_configuration(alias, gw.engine.region, gw.engine.account_id))


async def _list_aliases(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    aliases = await asyncio.to_thread(list_aliases, gw.project.db, name)
    version = request.query_params.get("FunctionVersion")
    if version is not None:  # only the aliases that send traffic to that version
        if not _VERSION.fullmatch(version):
            raise ConfigError(
                f"FunctionVersion must be $LATEST or a version number, not {version!r}"
            )
        aliases = [a for a in aliases if version in a.versions]
    return _paged(
        request,
        "Aliases",
        aliases,
        lambda alias: alias.name,
        lambda alias: alias_configuration(alias, gw.engine.region, gw.engine.account_id),
    )


async def _update_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    fields = json_object(body)
    alias = await asyncio.to_thread(
        update_alias,
        gw.project.db,
        name,
        request.path_params["alias"],
        fields.get("FunctionVersion"),
        routing_from(fields.get("RoutingConfig")),
        fields.get("Description"),
        fields.get("RevisionId"),
    )
    return _json(alias_configuration(alias, gw.engine.region, gw.engine.account_id))


async def _delete_alias(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    await asyncio.to_thread(delete_alias, gw.project.db, name, request.path_params["alias"])
    return Response(status_code=204)


async def _put_concurrency(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    reserved: Any = json_object(body).get("ReservedConcurrentExecutions")
    info = await asyncio.to_thread(put_function_concurrency, gw.project.db, name, reserved)
    return _json({"ReservedConcurrentExecutions": info.config.reserved_concurrency})


async def _get_concurrency(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    info = await asyncio.to_thread(get_function, gw.project.db, name)
    reserved = info.config.reserved_concurrency
    return _json({} if reserved is None else {"ReservedConcurrentExecutions": reserved})


async def _unsupported(request: Request, gw: Gateway, body: bytes) -> Response:
    raise UnsupportedOperationError(
        f"lambeam's Lambda API does not implement {request.method} {request.url.path}; it"
        f" implements {', '.join(_OPERATIONS)}"
    )


async def _delete_concurrency(request: Request, gw: Gateway, body: bytes) -> Response:
    name, _ = _name_and_qualifier(request)
    await asyncio.to_thread(delete_function_concurrency, gw.project.db, name)
    return Response(status_code=204)


def _created(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the function a CreateFunction names ("*" when the body names none: only a
    key that may create any function is then told what is wrong with it)."""
    try:
        name = json.loads(body).get("FunctionName")
    except (ValueError, AttributeError, RecursionError):
        name = None
    return gw.arn(name) if isinstance(name, str) and name else "*"


def _allow(action: str, qualified: bool = False, alias: bool = False) -> Permission:
    return Permission(
        f"lambda:{action}", function_resource(query="Qualifier", qualified=qualified, alias=alias)
    )


_FN = _BASE + "/{name}"
_CONCURRENCY = "/2017-10-31/functions/{name}/concurrency"
_EVENT_INVOKE_CONFIG = "/2019-09-25/functions/{name}/event-invoke-config"
# (path, method, handler, permission, body limit): every route of the Lambda API, with what the
# key's policy must allow. Qualified actions (GetFunction, Invoke, …) are asked on the ARN with
# the qualifier the call names, as Lambda does; tests/server/test_policy_matrix.py walks this.
ROUTES: list[tuple[str, str, Handler, Permission, int]] = [
    (
        _FN + "/invocations",
        "POST",
        _invoke,
        _allow("InvokeFunction", qualified=True),
        MAX_PAYLOAD_BYTES,
    ),
    (
        _BASE,
        "POST",
        _create_function,
        Permission("lambda:CreateFunction", _created),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _BASE,
        "GET",
        _list_functions,
        Permission("lambda:ListFunctions", lambda request, gw, body: "*"),
        MAX_MANAGEMENT_BODY,
    ),
    (_FN, "GET", _get_function, _allow("GetFunction", qualified=True), MAX_MANAGEMENT_BODY),
    (
        _FN,
        "DELETE",
        _delete_function,
        _allow("DeleteFunction", qualified=True),
        MAX_MANAGEMENT_BODY,
    ),
    (_FN + "/code", "PUT", _update_code, _allow("UpdateFunctionCode"), MAX_MANAGEMENT_BODY),
    (
        _FN + "/configuration",
        "GET",
        _get_configuration,
        _allow("GetFunctionConfiguration", qualified=True),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _FN + "/configuration",
        "PUT",
        _update_configuration,
        _allow("UpdateFunctionConfiguration"),
        MAX_MANAGEMENT_BODY,
    ),
    (_FN + "/versions", "POST", _publish, _allow("PublishVersion"), MAX_MANAGEMENT_BODY),
    (
        _FN + "/versions",
        "GET",
        _list_versions,
        _allow("ListVersionsByFunction"),
        MAX_MANAGEMENT_BODY,
    ),
    (_FN + "/aliases", "POST", _create_alias, _allow("CreateAlias"), MAX_MANAGEMENT_BODY),
    (_FN + "/aliases", "GET", _list_aliases, _allow("ListAliases"), MAX_MANAGEMENT_BODY),
    (
        _FN + "/aliases/{alias}",
        "GET",
        _get_alias,
        _allow("GetAlias", alias=True),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _FN + "/aliases/{alias}",
        "PUT",
        _update_alias,
        _allow("UpdateAlias", alias=True),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _FN + "/aliases/{alias}",
        "DELETE",
        _delete_alias,
        _allow("DeleteAlias", alias=True),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _CONCURRENCY,
        "PUT",
        _put_concurrency,
        _allow("PutFunctionConcurrency"),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _CONCURRENCY,
        "DELETE",
        _delete_concurrency,
        _allow("DeleteFunctionConcurrency"),
        MAX_MANAGEMENT_BODY,
    ),
    (
        "/2019-09-30/functions/{name}/concurrency",
        "GET",
        _get_concurrency,
        _allow("GetFunctionConcurrency"),
        MAX_MANAGEMENT_BODY,
    ),
    # Asynchronous invocation's config (lambeam/server/lambda_async.py)
    *[
        (_EVENT_INVOKE_CONFIG + suffix, method, handler, _allow(action, qualified), 64 * 1024)
        for suffix, method, handler, action, qualified in (
            ("", "PUT", lambda_async.put_config, "PutFunctionEventInvokeConfig", True),
            ("", "POST", lambda_async.update_config, "UpdateFunctionEventInvokeConfig", True),
            ("", "GET", lambda_async.get_config, "GetFunctionEventInvokeConfig", True),
            ("", "DELETE", lambda_async.delete_config, "DeleteFunctionEventInvokeConfig", True),
            ("/list", "GET", lambda_async.list_configs, "ListFunctionEventInvokeConfigs", False),
        )
    ],
]

# Event source mappings (lambeam/server/event_source_mappings.py)
ROUTES += event_source_mappings.LAMBDA_ROUTES


def lambda_routes() -> list[BaseRoute]:
    """The Lambda API's routes, by Lambda's own paths."""
    routes: list[BaseRoute] = [
        Route(path, _endpoint(handler, permission, limit), methods=[method])
        for path, method, handler, permission, limit in ROUTES
    ]
    listing = next(route for route in ROUTES if route[2] is _list_functions)
    routes.append(Route(_BASE + "/", _endpoint(_list_functions, listing[3]), methods=["GET"]))
    # Every other path of the Lambda API's (its dated prefixes, as boto3 sends them): a clear
    # refusal rather than an empty 404, to any authenticated key (it acts on nothing).
    routes += [
        Route(f"/{prefix}/{{rest:path}}", _endpoint(_unsupported, ANY_KEY), methods=_ALL_METHODS)
        for prefix in _API_PREFIXES
    ]
    return routes


_OPERATIONS: tuple[str, ...] = (
    "Invoke", "CreateFunction", "GetFunction", "GetFunctionConfiguration", "ListFunctions",
    "DeleteFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion",
    "ListVersionsByFunction", "CreateAlias", "GetAlias", "ListAliases", "UpdateAlias",
    "DeleteAlias", "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency",
    "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig",
    "GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig",
    "ListFunctionEventInvokeConfigs",
)  # fmt: skip
_OPERATIONS += event_source_mappings.LAMBDA_OPERATIONS
_API_PREFIXES = (
    "2014-11-13", "2015-03-31", "2016-08-19", "2017-03-31", "2017-10-31", "2018-10-31",
    "2019-09-25", "2019-09-30", "2020-04-22", "2020-06-30", "2021-07-20", "2021-10-31",
    "2021-11-15", "2024-08-31", "2025-11-30", "2025-12-01", "2026-07-09",
)  # fmt: skip
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
