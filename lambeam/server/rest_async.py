"""The REST API's asynchronous invocation: invoke-async and a function's event invoke configs.

    POST   /v1/functions/{name}/invoke-async?qualifier=    202 {"request_id"} once committed
    GET    /v1/functions/{name}/event-invoke-config?qualifier=
    PUT    /v1/functions/{name}/event-invoke-config        the whole config (the rest default)
    PATCH  /v1/functions/{name}/event-invoke-config        only the fields given
    DELETE /v1/functions/{name}/event-invoke-config
    GET    /v1/functions/{name}/event-invoke-configs       every qualifier's

A config's fields are lambeam.toml's `[functions.NAME.async]` keys: maximum_retry_attempts,
maximum_event_age (seconds), on_success and on_failure (an ARN, or the name of a function, queue
or topic; null clears one: setting one asks lambda:InvokeFunction, sqs:SendMessage or sns:Publish
on it). The routes are in rest.ROUTES.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.events.invoke_config import (
    delete_event_invoke_config,
    get_event_invoke_config,
    list_event_invoke_configs,
    put_event_invoke_config,
    update_event_invoke_config,
)
from lambeam.invoke import InvocationRequest
from lambeam.server._gateway import Gateway
from lambeam.server._requests import json_object
from lambeam.server.lambda_async import authorize_destinations

__all__ = [
    "delete_config",
    "get_config",
    "invoke_async",
    "list_configs",
    "put_config",
    "update_config",
]

QUALIFIER = "qualifier"  # as the REST API's other routes spell it
_FIELDS = {
    "maximum_retry_attempts": "maximum_retry_attempts",
    "maximum_event_age": "maximum_event_age_s",
    "on_success": "on_success",
    "on_failure": "on_failure",
}


def _target(request: Request) -> tuple[str, str | None]:
    return request.path_params["name"], request.query_params.get(QUALIFIER) or None


def _settings(body: bytes) -> dict[str, Any]:
    fields = json_object(body, fields=_FIELDS)
    return {_FIELDS[key]: value for key, value in fields.items()}


async def invoke_async(request: Request, gw: Gateway, body: bytes) -> Response:
    """Commit an asynchronous invocation: 202 with its request id once it is durable."""
    name, qualifier = _target(request)
    asked = InvocationRequest(name, body, qualifier, invocation_type="Event", source="rest")
    result = await gw.invoker.handle(asked)
    return JSONResponse(
        {"request_id": result.request_id},
        status_code=202,
        headers={"X-Request-Id": result.request_id},
    )


async def put_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """Set the whole config of a function (or ?qualifier=), replacing any earlier one."""
    name, qualifier = _target(request)
    settings = _settings(body)
    await authorize_destinations(request, gw, settings)
    config = await asyncio.to_thread(
        put_event_invoke_config, gw.project.db, name, qualifier, **settings
    )
    return JSONResponse(config.to_dict())


async def update_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """Change only the fields given of an existing config."""
    name, qualifier = _target(request)
    settings = _settings(body)
    await authorize_destinations(request, gw, settings)
    config = await asyncio.to_thread(
        update_event_invoke_config, gw.project.db, name, qualifier, **settings
    )
    return JSONResponse(config.to_dict())


async def get_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """The config set for a function (or ?qualifier=); 404 when none is."""
    name, qualifier = _target(request)
    config = await asyncio.to_thread(get_event_invoke_config, gw.project.db, name, qualifier)
    return JSONResponse(config.to_dict())


async def delete_config(request: Request, gw: Gateway, body: bytes) -> Response:
    """Remove a config: Lambda's defaults apply again."""
    name, qualifier = _target(request)
    await asyncio.to_thread(delete_event_invoke_config, gw.project.db, name, qualifier)
    return Response(status_code=204)


async def list_configs(request: Request, gw: Gateway, body: bytes) -> Response:
    """Every qualifier's config of a function."""
    configs = await asyncio.to_thread(
        list_event_invoke_configs, gw.project.db, request.path_params["name"]
    )
    return JSONResponse({"event_invoke_configs": [config.to_dict() for config in configs]})
