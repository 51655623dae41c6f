"""Event source mappings on both faces: the Lambda API's (so that boto3's
`create_event_source_mapping` and friends work unchanged) and the REST API's.

    Lambda API                                      REST API
    POST   /2015-03-31/event-source-mappings        POST   /v1/event-source-mappings
    GET    /2015-03-31/event-source-mappings        GET    /v1/event-source-mappings
    GET    /2015-03-31/event-source-mappings/{UUID} GET    /v1/event-source-mappings/{uuid}
    PUT    /2015-03-31/event-source-mappings/{UUID} PATCH  /v1/event-source-mappings/{uuid}
    DELETE /2015-03-31/event-source-mappings/{UUID} DELETE /v1/event-source-mappings/{uuid}

Each action (lambda:CreateEventSourceMapping, …) is asked on the ARN of the function the
mapping invokes; a listing without a function on "*". A create also asks sqs:ReceiveMessage,
sqs:DeleteMessage and sqs:GetQueueAttributes on the queue it drains, an update that moves the
mapping lambda:InvokeFunction on its new function. A change wakes this server's consumer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.errors import ConfigError
from lambeam.events.consumer import MAPPINGS_CHANGED
from lambeam.events.mapping_rules import REPORT_BATCH_ITEM_FAILURES
from lambeam.events.mappings import (
    UNSET,
    EventSourceMapping,
    create_event_source_mapping,
    delete_event_source_mapping,
    get_event_source_mapping,
    list_event_source_mappings,
    update_event_source_mapping,
)
from lambeam.events.queues import queue_arn, queue_name_from_arn
from lambeam.runtime import LATEST, function_arn
from lambeam.runtime.spec import split_function_name
from lambeam.server._gateway import Gateway, Handler, Permission, authorize_targets
from lambeam.server._lambda_shapes import page
from lambeam.server._requests import MAX_MANAGEMENT_BODY, json_object
from lambeam.storage.schema import EventSourceMappingRow

__all__ = ["LAMBDA_OPERATIONS", "LAMBDA_ROUTES", "REST_ROUTES", "mapping_configuration"]

_LAMBDA = "/2015-03-31/event-source-mappings"
_REST = "/v1/event-source-mappings"
LAMBDA_OPERATIONS = (
    "CreateEventSourceMapping",
    "GetEventSourceMapping",
    "ListEventSourceMappings",
    "UpdateEventSourceMapping",
    "DeleteEventSourceMapping",
)
# What CreateEventSourceMapping and UpdateEventSourceMapping take for an SQS queue; any other
# parameter (a stream's, Kafka's, FilterCriteria) is refused rather than silently ignored.
_CREATE_FIELDS = (
    "FunctionName",
    "EventSourceArn",
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ScalingConfig",
    "FunctionResponseTypes",
)
_UPDATE_FIELDS = (*(f for f in _CREATE_FIELDS if f != "EventSourceArn"), "UUID")
_REST_FIELDS = (
    "function",
    "qualifier",
    "queue",
    "batch_size",
    "maximum_batching_window",
    "maximum_concurrency",
    "report_batch_item_failures",
    "enabled",
)


def mapping_configuration(
    mapping: EventSourceMapping, region: str, account_id: str, state: str | None = None
) -> dict[str, Any]:
    """Lambda's EventSourceMappingConfiguration of an SQS mapping (`state` while a change
    settles: Creating, Updating, Enabling, Disabling, Deleting; else Enabled or Disabled)."""
    shape: dict[str, Any] = {
        "UUID": mapping.uuid,
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.maximum_batching_window_s,
        "EventSourceArn": queue_arn(mapping.queue, region, account_id),
        "FunctionArn": function_arn(mapping.function, region, account_id, mapping.qualifier),
        "LastModified": mapping.last_modified.timestamp(),
        "State": state or mapping.state,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": list(mapping.function_response_types),
        "EventSourceMappingArn": (
            f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{mapping.uuid}"
        ),
    }
    if mapping.maximum_concurrency is not None:
        shape["ScalingConfig"] = {"MaximumConcurrency": mapping.maximum_concurrency}
    return shape


def _shape(gw: Gateway, mapping: EventSourceMapping, state: str | None = None) -> dict[str, Any]:
    return mapping_configuration(mapping, gw.engine.region, gw.engine.account_id, state)


def _changed(gw: Gateway) -> None:
    gw.events.wake(MAPPINGS_CHANGED)


def _queue(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"{field} is required: the SQS queue's ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"
        )
    try:
        return queue_name_from_arn(value)
    except ValueError as exc:
        raise ConfigError(f"{exc}: lambeam's event source mappings read SQS queues") from None


def _function(value: object, field: str = "FunctionName") -> tuple[str, str | None]:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field} is required")
    return split_function_name(value)


def _scaling(fields: dict[str, Any]) -> Any:
    """ScalingConfig's MaximumConcurrency: UNSET when not given, None when emptied."""
    if "ScalingConfig" not in fields:
        return UNSET
    scaling = fields["ScalingConfig"]
    if scaling is None:
        return None
    if not isinstance(scaling, dict):
        raise ConfigError('ScalingConfig must be an object, e.g. {"MaximumConcurrency": 5}')
    return scaling.get("MaximumConcurrency")


# What a mapping points at, besides the function its route is authorized on: the queue it
# drains (what Lambda's execution role needs of it) and, when an update moves it, the function
# it will invoke.
_CONSUMES = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


async def _may_consume(request: Request, gw: Gateway, queue: str) -> None:
    arn = queue_arn(queue, gw.engine.region, gw.engine.account_id)
    await authorize_targets(request, gw, [(action, arn) for action in _CONSUMES])


async def _may_retarget(request: Request, gw: Gateway, function: Any, qualifier: Any) -> None:
    """lambda:InvokeFunction on the function (and qualifier) an update moves mapping {uuid} to,
    as update_event_source_mapping resolves them; nothing when it stays where it is."""
    if function in (None, UNSET) and qualifier is UNSET:
        return
    before = await asyncio.to_thread(
        get_event_source_mapping, gw.project.db, request.path_params["uuid"]
    )
    if function in (None, UNSET):
        function = before.function
    elif qualifier is UNSET:
        qualifier = None
    if qualifier is UNSET:
        qualifier = before.qualifier
    if qualifier is not None and not isinstance(qualifier, str):
        raise ConfigError(f"qualifier must be a version or an alias, got {qualifier!r}")
    after = gw.arn(function, None if qualifier in (None, "", LATEST) else qualifier)
    if after != gw.arn(before.function, before.qualifier):
        await authorize_targets(request, gw, [("lambda:InvokeFunction", after)])


# The Lambda API's handlers.


async def _create(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=_CREATE_FIELDS)
    function, qualifier = _function(fields.get("FunctionName"))
    queue = _queue(fields.get("EventSourceArn"), "EventSourceArn")
    await _may_consume(request, gw, queue)
    concurrency = _scaling(fields)
    enabled = fields.get("Enabled")
    mapping = await asyncio.to_thread(
        create_event_source_mapping,
        gw.project.db,
        function,
        queue,
        qualifier=qualifier,
        batch_size=fields.get("BatchSize"),
        maximum_batching_window_s=fields.get("MaximumBatchingWindowInSeconds"),
        maximum_concurrency=None if concurrency is UNSET else concurrency,
        enabled=True if enabled is None else enabled,
        function_response_types=fields.get("FunctionResponseTypes") or [],
    )
    _changed(gw)
    return JSONResponse(_shape(gw, mapping, "Creating"), status_code=202)


async def _list(request: Request, gw: Gateway, body: bytes) -> Response:
    params = request.query_params
    function = qualifier = queue = None
    if params.get("FunctionName"):
        function, qualifier = _function(params["FunctionName"])
    if params.get("EventSourceArn"):
        queue = _queue(params["EventSourceArn"], "EventSourceArn")
    mappings = await asyncio.to_thread(
        list_event_source_mappings,
        gw.project.db,
        function=function,
        qualifier=qualifier,
        queue=queue,
    )
    chosen, marker = page(mappings, lambda m: m.uuid, params.get("Marker"), params.get("MaxItems"))
    answer: dict[str, Any] = {"EventSourceMappings": [_shape(gw, m) for m in chosen]}
    if marker is not None:
        answer["NextMarker"] = marker
    return JSONResponse(answer)


async def _get(request: Request, gw: Gateway, body: bytes) -> Response:
    uuid = request.path_params["uuid"]
    mapping = await asyncio.to_thread(get_event_source_mapping, gw.project.db, uuid)
    return JSONResponse(_shape(gw, mapping))


async def _update(request: Request, gw: Gateway, body: bytes) -> Response:
    uuid = request.path_params["uuid"]
    fields = json_object(body, fields=_UPDATE_FIELDS)
    function = qualifier = UNSET
    if fields.get("FunctionName") is not None:
        function, qualifier = _function(fields["FunctionName"])
    await _may_retarget(request, gw, function, qualifier)
    db = gw.project.db

    def update() -> tuple[EventSourceMapping, EventSourceMapping]:
        before = get_event_source_mapping(db, uuid)
        after = update_event_source_mapping(
            db,
            uuid,
            function=None if function is UNSET else function,
            qualifier=qualifier,
            batch_size=fields.get("BatchSize"),
            maximum_batching_window_s=fields.get("MaximumBatchingWindowInSeconds"),
            maximum_concurrency=_scaling(fields),
            enabled=fields.get("Enabled"),
            function_response_types=fields.get("FunctionResponseTypes"),
        )
        return before, after

    before, after = await asyncio.to_thread(update)
    _changed(gw)
    state = "Updating"
    if before.enabled != after.enabled:
        state = "Enabling" if after.enabled else "Disabling"
    return JSONResponse(_shape(gw, after, state), status_code=202)


async def _delete(request: Request, gw: Gateway, body: bytes) -> Response:
    uuid = request.path_params["uuid"]
    mapping = await asyncio.to_thread(delete_event_source_mapping, gw.project.db, uuid)
    _changed(gw)
    return JSONResponse(_shape(gw, mapping, "Deleting"), status_code=202)


# The REST API's handlers (lambeam's own field names, EventSourceMapping.to_dict).


async def _rest_create(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=_REST_FIELDS)
    function, qualifier = _function(fields.get("function"), "function")
    if fields.get("qualifier") is not None:
        function, qualifier = split_function_name(function, fields["qualifier"])
    queue = _queue(fields.get("queue"), "queue")
    await _may_consume(request, gw, queue)
    report = fields.get("report_batch_item_failures", False)
    if not isinstance(report, bool):
        raise ConfigError("report_batch_item_failures must be true or false")
    mapping = await asyncio.to_thread(
        create_event_source_mapping,
        gw.project.db,
        function,
        queue,
        qualifier=qualifier,
        batch_size=fields.get("batch_size"),
        maximum_batching_window_s=fields.get("maximum_batching_window"),
        maximum_concurrency=fields.get("maximum_concurrency"),
        enabled=fields.get("enabled", True),
        function_response_types=[REPORT_BATCH_ITEM_FAILURES] if report else [],
    )
    _changed(gw)
    return JSONResponse(mapping.to_dict(), status_code=201)


async def _rest_list(request: Request, gw: Gateway, body: bytes) -> Response:
    params = request.query_params
    function = qualifier = None
    if params.get("function"):
        function, qualifier = split_function_name(params["function"], params.get("qualifier"))
    queue = _queue(params["queue"], "queue") if params.get("queue") else None
    mappings = await asyncio.to_thread(
        list_event_source_mappings,
        gw.project.db,
        function=function,
        qualifier=qualifier,
        queue=queue,
    )
    return JSONResponse({"mappings": [m.to_dict() for m in mappings]})


async def _rest_get(request: Request, gw: Gateway, body: bytes) -> Response:
    mapping = await asyncio.to_thread(
        get_event_source_mapping, gw.project.db, request.path_params["uuid"]
    )
    return JSONResponse(mapping.to_dict())


async def _rest_update(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=tuple(f for f in _REST_FIELDS if f != "queue"))
    report = fields.get("report_batch_item_failures")
    if report is not None and not isinstance(report, bool):
        raise ConfigError("report_batch_item_failures must be true or false")
    function = None
    qualifier: Any = UNSET
    if fields.get("function") is not None:
        function, qualifier = _function(fields["function"], "function")
    if "qualifier" in fields:
        qualifier = fields["qualifier"]
    await _may_retarget(request, gw, function, qualifier)
    mapping = await asyncio.to_thread(
        update_event_source_mapping,
        gw.project.db,
        request.path_params["uuid"],
        function=function,
        qualifier=qualifier,
        batch_size=fields.get("batch_size"),
        maximum_batching_window_s=fields.get("maximum_batching_window"),
        maximum_concurrency=fields.get("maximum_concurrency", UNSET),
        enabled=fields.get("enabled"),
        function_response_types=(
            None if report is None else ([REPORT_BATCH_ITEM_FAILURES] if report else [])
        ),
    )
    _changed(gw)
    return JSONResponse(mapping.to_dict())


async def _rest_delete(request: Request, gw: Gateway, body: bytes) -> Response:
    await asyncio.to_thread(delete_event_source_mapping, gw.project.db, request.path_params["uuid"])
    _changed(gw)
    return Response(status_code=204)


# What each route asks of the key's policy: the action on the mapped function's ARN.


def _named_in_body(field: str) -> Any:
    def resource(request: Request, gw: Gateway, body: bytes) -> str:
        try:
            value = json.loads(body).get(field)
        except (ValueError, AttributeError, RecursionError):
            value = None
        return gw.arn(value) if isinstance(value, str) and value else "*"

    return resource


def _named_in_query(field: str, qualifier_field: str | None = None) -> Any:
    def resource(request: Request, gw: Gateway, body: bytes) -> str:
        value = request.query_params.get(field)
        if not value:
            return "*"
        qualifier = request.query_params.get(qualifier_field) if qualifier_field else None
        return gw.arn(value, qualifier or None)

    return resource


def _mapped_function(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the function mapping {uuid} invokes (the mapping's own ARN when there is no
    such mapping: only a key that may act on any resource then learns that)."""
    uuid = request.path_params["uuid"]
    with gw.project.db.session() as session:  # one primary-key read
        row = session.get(EventSourceMappingRow, uuid)
        if row is not None:
            return gw.arn(row.function, row.qualifier)
    return f"arn:aws:lambda:{gw.engine.region}:{gw.engine.account_id}:event-source-mapping:{uuid}"


def _allow(action: str, resource: Any) -> Permission:
    return Permission(f"lambda:{action}", resource)


_ONE = _LAMBDA + "/{uuid}"
# (path, method, handler, permission, body limit), as lambda_api.ROUTES holds them.
LAMBDA_ROUTES: list[tuple[str, str, Handler, Permission, int]] = [
    (
        _LAMBDA,
        "POST",
        _create,
        _allow("CreateEventSourceMapping", _named_in_body("FunctionName")),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _LAMBDA,
        "GET",
        _list,
        _allow("ListEventSourceMappings", _named_in_query("FunctionName")),
        MAX_MANAGEMENT_BODY,
    ),
    (_ONE, "GET", _get, _allow("GetEventSourceMapping", _mapped_function), MAX_MANAGEMENT_BODY),
    (
        _ONE,
        "PUT",
        _update,
        _allow("UpdateEventSourceMapping", _mapped_function),
        MAX_MANAGEMENT_BODY,
    ),
    (
        _ONE,
        "DELETE",
        _delete,
        _allow("DeleteEventSourceMapping", _mapped_function),
        MAX_MANAGEMENT_BODY,
    ),
]
_REST_ONE = _REST + "/{uuid}"
# (path, method, handler, permission, summary), as rest.ROUTES holds them.
REST_ROUTES: list[tuple[str, str, Handler, Permission, str]] = [
    (
        _REST,
        "GET",
        _rest_list,
        _allow("ListEventSourceMappings", _named_in_query("function", "qualifier")),
        "List event source mappings (?function=, ?queue=)",
    ),
    (
        _REST,
        "POST",
        _rest_create,
        _allow("CreateEventSourceMapping", _named_in_body("function")),
        "Map a queue to a function",
    ),
    (
        _REST_ONE,
        "GET",
        _rest_get,
        _allow("GetEventSourceMapping", _mapped_function),
        "Get an event source mapping",
    ),
    (
        _REST_ONE,
        "PATCH",
        _rest_update,
        _allow("UpdateEventSourceMapping", _mapped_function),
        "Change an event source mapping (batch size, window, concurrency, enabled)",
    ),
    (
        _REST_ONE,
        "DELETE",
        _rest_delete,
        _allow("DeleteEventSourceMapping", _mapped_function),
        "Delete an event source mapping",
    ),
]
