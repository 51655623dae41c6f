"""The policy matrix's cases for the schedule routes (lambeam/server/rest_schedules.py):
(setup, call, action, resource, status, targets) per route, as tests/server/test_policy_matrix.py's Case
takes them. A setup returns the name of the function (and schedule) it made."""

from __future__ import annotations

from typing import Any

from lambeam.events.schedules import create_schedule
from tests.server.conftest import RunningServer
from tests.server.keyed import arn, code_function, fresh_name


def _new(server: RunningServer) -> str:
    return fresh_name()


def _function(server: RunningServer) -> str:
    return code_function(server)


def _scheduled(server: RunningServer) -> str:
    name = code_function(server)
    create_schedule(server.project.db, name, "rate(1 day)", name)
    return name


def _arn(name: str) -> str:
    return f"arn:aws:scheduler:*:*:schedule/default/{name}"


def _any(name: str) -> str:
    return "*"


def schedule_cases() -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every schedule route's case."""
    one = "/v1/schedules/{name}"
    return {
        ("GET", "/v1/schedules"): (
            _new,
            lambda n: ("GET", "/v1/schedules", None),
            "scheduler:ListSchedules",
            _any,
        ),
        ("POST", "/v1/schedules"): (
            _function,
            lambda n: (
                "POST",
                "/v1/schedules",
                {"name": n, "expression": "rate(1 day)", "function": n},
            ),
            "scheduler:CreateSchedule",
            _arn,
            201,
            lambda n: [("lambda:InvokeFunction", arn(n))],
        ),
        ("GET", one): (
            _scheduled,
            lambda n: ("GET", f"/v1/schedules/{n}", None),
            "scheduler:GetSchedule",
            _arn,
        ),
        ("PATCH", one): (
            _scheduled,
            lambda n: ("PATCH", f"/v1/schedules/{n}", {"enabled": False}),
            "scheduler:UpdateSchedule",
            _arn,
        ),
        ("DELETE", one): (
            _scheduled,
            lambda n: ("DELETE", f"/v1/schedules/{n}", None),
            "scheduler:DeleteSchedule",
            _arn,
            204,
        ),
    }
