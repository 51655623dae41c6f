"""The Lambda API's asynchronous-invocation config: /2019-09-25/functions/{name}/event-invoke-config.

PutFunctionEventInvokeConfig (PUT), UpdateFunctionEventInvokeConfig (POST),
GetFunctionEventInvokeConfig (GET), DeleteFunctionEventInvokeConfig (DELETE) and
ListFunctionEventInvokeConfigs (GET .../list), in botocore's shapes, so that an unmodified boto3
`lambda` client configures retries, event age and destinations. The routes and the actions they
ask are in lambda_api.ROUTES (a Put or Update also asks lambda:InvokeFunction, sqs:SendMessage or
sns:Publish on each destination it sets); the rules are lambeam.events.invoke_config's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.errors import ConfigError
from lambeam.events.invoke_config import (
    Destination,
    EventInvokeConfig,
    delete_event_invoke_config,
    destination_from,
    get_event_invoke_config,
    list_event_invoke_configs,
    put_event_invoke_config,
    update_event_invoke_config,
)
from lambeam.runtime.spec import split_function_name
from lambeam.server._gateway import Gateway, authorize_targets, delivery_target
from lambeam.server._lambda_shapes import page
from lambeam.server._requests import json_object

__all__ = [
    "authorize_destinations",
    "delete_config",
    "event_invoke_config_shape",
    "get_config",
    "list_configs",
    "put_config",
    "update_config",
]

_FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
_LIST_MAX_ITEMS = 50  # ListFunctionEventInvokeConfigs' MaxItems: 1 to 50


def event_invoke_config_shape(config: EventInvokeConfig, gw: Gateway) -> dict[str, Any]:
    """Lambda's FunctionEventInvokeConfig (FunctionArn qualified, $LATEST spelt out)."""
    region, account = gw.engine.region, gw.engine.account_id

    def destination(found: Destination | None) -> dict[str, str]:
        return {"Destination": found.arn(region, account)} if found else {}

    return {
        "LastModified": config.last_modified.timestamp() if config.last_modified else None,
        "FunctionArn": config.function_arn(region, account),
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_s,
        "DestinationConfig": {
            "OnSuccess": destination(config.on_success),
            "OnFailure": destination(config.on_failure),
        },
    }


def _target(request: Request) -> tuple[str, str | None]:
    return split_function_name(request.path_params["name"], request.query_params.get("Qualifier"))


def _fields(body: bytes) -> dict[str, Any]:
    """The request's settings in invoke_config's keywords (only those it names)."""
    fields = json_object(body)
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown field {unknown[0]!r}; expected one of {', '.join(_FIELDS)}")
    given: dict[str, Any] = {}
    if "MaximumRetryAttempts" in fields:
        given["maximum_retry_attempts"] = fields["MaximumRetryAttempts"]
    if "MaximumEventAgeInSeconds" in fields:
        given["maximum_event_age_s"] = fields["MaximumEventAgeInSeconds"]
    destinations = fields.get("DestinationConfig")
    if destinations is not None:
        if not isinstance(destinations, Mapping):
            raise ConfigError("DestinationConfig must be an object with OnSuccess and OnFailure")
        for key, keyword in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if key in destinations:
                entry = destinations[key]
                if not isinstance(entry, Mapping):
                    raise ConfigError(f"DestinationConfig.{key} must be an object with Destination")
                given[keyword] = entry.get("Destination")
    return given


async def authorize_destinations(request: Request, gw: Gateway, given: Mapping[str, Any]) -> None:
    """AccessDeniedError unless the request's key may send to the destinations `given` names
    (its on_success and on_failure: an ARN or a function's, queue's or topic's name):
    lambda:InvokeFunction, sqs:SendMessage or sns:Publish on each. What is not a destination
    is left for invoke_config to refuse."""
    targets = []
    for keyword in ("on_success", "on_failure"):
        value = given.get(keyword)
        if not isinstance(value, str) or not value:
            continue
        if value.startswith("arn:"):
            found: Destination | None = Destination.from_arn(value)
        else:
            found = await asyncio.to_thread(destination_from, gw.project.db, value, keyword)
        if found is not None:
            targets.append(delivery_target(gw, found.kind, found.name, found.qualifier))
    await authorize_targets(request, gw, targets)


async def put_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """PutFunctionEventInvokeConfig: the whole config, replacing any earlier one."""
    name, qualifier = _target(request)
    given = _fields(body)  # none at all: Lambda's defaults, set explicitly
    await authorize_destinations(request, gw, given)
    config = await asyncio.to_thread(
        put_event_invoke_config, gw.project.db, name, qualifier, **given
    )
    return JSONResponse(event_invoke_config_shape(config, gw))


async def update_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """UpdateFunctionEventInvokeConfig: only what the request names changes."""
    name, qualifier = _target(request)
    changes = _fields(body)
    await authorize_destinations(request, gw, changes)
    config = await asyncio.to_thread(
        update_event_invoke_config, gw.project.db, name, qualifier, **changes
    )
    return JSONResponse(event_invoke_config_shape(config, gw))


async def get_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """GetFunctionEventInvokeConfig: ResourceNotFoundException when none is set."""
    name, qualifier = _target(request)
    config = await asyncio.to_thread(get_event_invoke_config, gw.project.db, name, qualifier)
    return JSONResponse(event_invoke_config_shape(config, gw))


async def delete_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """DeleteFunctionEventInvokeConfig (204)."""
    name, qualifier = _target(request)
    await asyncio.to_thread(delete_event_invoke_config, gw.project.db, name, qualifier)
    return Response(status_code=204)


async def list_configs(request: Request, gw: Gateway, body: bytes) -> Response:
    """ListFunctionEventInvokeConfigs: every qualifier's config, by Marker and MaxItems."""
    name, _ = split_function_name(request.path_params["name"])
    params = request.query_params
    max_items = params.get("MaxItems")
    if max_items is not None and not (max_items.isdigit() and 1 <= int(max_items) <= 50):
        raise ConfigError(f"MaxItems must be an integer from 1 to {_LIST_MAX_ITEMS}")
    configs = await asyncio.to_thread(list_event_invoke_configs, gw.project.db, name)
    chosen, marker = page(configs, lambda c: c.qualifier, params.get("Marker"), max_items)
    answer: dict[str, Any] = {
        "FunctionEventInvokeConfigs": [event_invoke_config_shape(c, gw) for c in chosen]
    }
    if marker is not None:
        answer["NextMarker"] = marker
    return JSONResponse(answer)
