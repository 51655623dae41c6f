"""The REST API's schedules (EventBridge Scheduler's, invoking a function).

    GET    /v1/schedules              every schedule (?function=), with its next fire times
    POST   /v1/schedules              {"name", "expression", "function", "timezone"?,
                                       "qualifier"?, "input"?, "enabled"?}: 201
    GET    /v1/schedules/{name}       one schedule, its last and next fire times
    PATCH  /v1/schedules/{name}       change what is given (e.g. {"enabled": false})
    DELETE /v1/schedules/{name}       204

Authorized as Scheduler names its actions (scheduler:CreateSchedule, …) on the schedule's ARN,
arn:aws:scheduler:REGION:ACCOUNT:schedule/default/NAME; a create, or a change of its function,
also asks lambda:InvokeFunction on the function it will invoke. A schedule made or changed here is seen
by this server's scheduler at once, by the others at their next poll.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.errors import ConfigError
from lambeam.events.scheduler import SCHEDULES
from lambeam.events.schedules import (
    KEEP,
    ScheduleInfo,
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    schedule_arn,
    update_schedule,
)
from lambeam.server._gateway import Gateway, Handler, Permission, authorize_targets
from lambeam.server._requests import json_object

__all__ = ["ROUTES"]

_FIELDS = ("expression", "timezone", "function", "qualifier", "input", "enabled")


async def _shown(gw: Gateway, *schedules: ScheduleInfo) -> list[dict[str, Any]]:
    """The schedules as JSON with their next fire times, computed off the event loop."""
    now, region, account = gw.events.clock(), gw.engine.region, gw.engine.account_id
    return await asyncio.to_thread(lambda: [s.to_dict(now, region, account) for s in schedules])


async def _list(request: Request, gw: Gateway, body: bytes) -> Response:
    function = request.query_params.get("function") or None
    schedules = await asyncio.to_thread(list_schedules, gw.project.db, function=function)
    return JSONResponse({"schedules": await _shown(gw, *schedules)})


def _invoked(gw: Gateway, function: Any, qualifier: Any) -> str | None:
    """The ARN of the function a schedule will invoke (None when `function` is no name: the
    schedules module refuses it)."""
    if not isinstance(function, str) or not function:
        return None
    if qualifier is not None and not isinstance(qualifier, str):
        raise ConfigError(f"qualifier must be a version or an alias, got {qualifier!r}")
    return gw.arn(function, qualifier)


async def _may_invoke(request: Request, gw: Gateway, target: str | None) -> None:
    """lambda:InvokeFunction on the function a schedule will invoke."""
    if target is not None:
        await authorize_targets(request, gw, [("lambda:InvokeFunction", target)])


async def _may_retarget(request: Request, gw: Gateway, function: Any, qualifier: Any) -> None:
    """lambda:InvokeFunction on the function an update moves schedule {name} to (resolved as
    update_schedule resolves it); nothing when it keeps invoking the same one."""
    now = await asyncio.to_thread(get_schedule, gw.project.db, request.path_params["name"])
    if function is KEEP:
        function = now.function
        qualifier = now.qualifier if qualifier is KEEP else qualifier
    elif qualifier is KEEP:
        qualifier = None
    target = _invoked(gw, function, qualifier)
    if target != gw.arn(now.function, now.qualifier):
        await _may_invoke(request, gw, target)


async def _create(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("name", *_FIELDS))
    for required in ("name", "expression", "function"):
        if not isinstance(fields.get(required), str) or not fields[required]:
            raise ConfigError(
                f"{required} is required: a schedule has a name, an expression (cron(...),"
                " rate(...) or at(...)) and a function"
            )
    await _may_invoke(request, gw, _invoked(gw, fields["function"], fields.get("qualifier")))
    made = await asyncio.to_thread(
        create_schedule,
        gw.project.db,
        fields["name"],
        fields["expression"],
        fields["function"],
        qualifier=fields.get("qualifier"),
        timezone=fields.get("timezone", "UTC"),
        input=fields.get("input"),
        enabled=fields.get("enabled", True),
        clock=gw.events.clock,
    )
    gw.events.wake(SCHEDULES)
    return JSONResponse((await _shown(gw, made))[0], status_code=201)


async def _get(request: Request, gw: Gateway, body: bytes) -> Response:
    found = await asyncio.to_thread(get_schedule, gw.project.db, request.path_params["name"])
    return JSONResponse((await _shown(gw, found))[0])


async def _update(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=_FIELDS)
    changes = {key: fields.get(key, KEEP) for key in _FIELDS}
    if changes["function"] is not KEEP or changes["qualifier"] is not KEEP:
        await _may_retarget(request, gw, changes["function"], changes["qualifier"])
    changed = await asyncio.to_thread(
        update_schedule,
        gw.project.db,
        request.path_params["name"],
        clock=gw.events.clock,
        **changes,
    )
    gw.events.wake(SCHEDULES)
    return JSONResponse((await _shown(gw, changed))[0])


async def _delete(request: Request, gw: Gateway, body: bytes) -> Response:
    await asyncio.to_thread(delete_schedule, gw.project.db, request.path_params["name"])
    return Response(status_code=204)


def _schedule(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the schedule the path names."""
    return schedule_arn(request.path_params["name"], gw.engine.region, gw.engine.account_id)


def _created(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the schedule a create names ("*" when the body names none)."""
    try:
        name = json.loads(body).get("name")
    except (ValueError, AttributeError, RecursionError):
        name = None
    if not isinstance(name, str) or not name:
        return "*"
    return schedule_arn(name, gw.engine.region, gw.engine.account_id)


def _anywhere(request: Request, gw: Gateway, body: bytes) -> str:
    return "*"


def _scheduler(action: str, resource: Any = _schedule) -> Permission:
    return Permission(f"scheduler:{action}", resource)


_ONE = "/v1/schedules/{name}"
# (path, method, handler, permission, summary), spliced into rest.ROUTES.
ROUTES: list[tuple[str, str, Handler, Permission | None, str]] = [
    (
        "/v1/schedules",
        "GET",
        _list,
        _scheduler("ListSchedules", _anywhere),
        "List schedules (?function=)",
    ),
    (
        "/v1/schedules",
        "POST",
        _create,
        _scheduler("CreateSchedule", _created),
        "Create a schedule: a cron, rate or at expression invoking a function",
    ),
    (_ONE, "GET", _get, _scheduler("GetSchedule"), "Get a schedule and its next fire times"),
    (_ONE, "PATCH", _update, _scheduler("UpdateSchedule"), "Change, enable or disable a schedule"),
    (_ONE, "DELETE", _delete, _scheduler("DeleteSchedule"), "Delete a schedule"),
]
