"""The REST API's schedules (EventBridge Scheduler's, invoking a function).

    GET    /v1/schedules              every schedule (?function=), with its next fire times
    POST   /v1/schedules              {"name", "expression", "function", "timezone"?,
                                       "qualifier"?, "input"?, "enabled"?}: 201
    GET    /v1/schedules/{name}       one schedule, its last and next fire times
    PATCH  /v1/schedules/{name}       change what is given (e.g. {"enabled": false})
    DELETE /v1/schedules/{name}       204

Authorized as Scheduler names its actions (scheduler:CreateSchedule, …) on the schedule's ARN,
arn:aws:scheduler:REGION:ACCOUNT:schedule/default/NAME. A schedule made or changed here is seen
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
from lambeam.server._gateway import Gateway, Handler, Permission
from lambeam.server._requests import json_object

__all__ = ["ROUTES"]

_FIELDS = ("expression", "timezone", "function", "qualifier", "input", "enabled")


def _shown(gw: Gateway, schedule: ScheduleInfo) -> dict[str, Any]:
    return schedule.to_dict(gw.events.clock(), gw.engine.region, gw.engine.account_id)


async def _list(request: Request, gw: Gateway, body: bytes) -> Response:
    function = request.query_params.get("function") or None
    schedules = await asyncio.to_thread(list_schedules, gw.project.db, function=function)
    return JSONResponse({"schedules": [_shown(gw, s) for s in schedules]})


async def _create(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("name", *_FIELDS))
    for required in ("name", "expression", "function"):
        if not isinstance(fields.get(required), str) or not fields[required]:
            raise ConfigError(
                f"{required} is required: a schedule has a name, an expression (cron(...),"
                " rate(...) or at(...)) and a function"
            )
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
    return JSONResponse(_shown(gw, made), status_code=201)


async def _get(request: Request, gw: Gateway, body: bytes) -> Response:
    found = await asyncio.to_thread(get_schedule, gw.project.db, request.path_params["name"])
    return JSONResponse(_shown(gw, found))


async def _update(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=_FIELDS)
    changes = {key: fields.get(key, KEEP) for key in _FIELDS}
    changed = await asyncio.to_thread(
        update_schedule,
        gw.project.db,
        request.path_params["name"],
        clock=gw.events.clock,
        **changes,
    )
    gw.events.wake(SCHEDULES)
    return JSONResponse(_shown(gw, changed))


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
