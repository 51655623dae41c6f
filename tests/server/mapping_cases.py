"""The policy matrix's cases for the event source mapping routes
(lambeam/server/event_source_mappings.py): (setup, call, action, resource, status, targets) per route, as
tests/server/test_policy_matrix.py's Case takes them. A setup returns the name of the function
it made (with a queue of the same name, and a mapping of the two for the routes of one)."""

from __future__ import annotations

from typing import Any

from lambeam.events.mappings import create_event_source_mapping
from lambeam.events.queues import create_queue
from tests.server.conftest import RunningServer
from tests.server.keyed import arn, code_function

_MAPPINGS: dict[str, str] = {}  # function name -> the UUID of its mapping


def _queued(server: RunningServer) -> str:
    name = code_function(server)
    create_queue(server.project.db, name)
    return name


def _mapped(server: RunningServer) -> str:
    name = _queued(server)
    _MAPPINGS[name] = create_event_source_mapping(server.project.db, name, name).uuid
    return name


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:000000000000:{name}"


def _consumes(name: str) -> list[tuple[str, str]]:
    """What a mapping draining queue `name` needs of it, besides its route's action."""
    actions = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    return [(action, f"arn:aws:sqs:*:*:{name}") for action in actions]


def mapping_cases() -> tuple[
    dict[tuple[str, str], tuple[Any, ...]], dict[tuple[str, str], tuple[Any, ...]]
]:
    """Every mapping route's case: the REST API's, then the Lambda API's."""
    rest, one = "/v1/event-source-mappings", "/v1/event-source-mappings/{uuid}"
    rest_cases = {
        ("GET", rest): (
            _mapped,
            lambda n: ("GET", f"{rest}?function={n}", None),
            "lambda:ListEventSourceMappings",
            arn,
        ),
        ("POST", rest): (
            _queued,
            lambda n: ("POST", rest, {"function": n, "queue": n}),
            "lambda:CreateEventSourceMapping",
            arn,
            201,
            _consumes,
        ),
        ("GET", one): (
            _mapped,
            lambda n: ("GET", f"{rest}/{_MAPPINGS[n]}", None),
            "lambda:GetEventSourceMapping",
            arn,
        ),
        ("PATCH", one): (
            _mapped,
            lambda n: ("PATCH", f"{rest}/{_MAPPINGS[n]}", {"enabled": False}),
            "lambda:UpdateEventSourceMapping",
            arn,
        ),
        ("DELETE", one): (
            _mapped,
            lambda n: ("DELETE", f"{rest}/{_MAPPINGS[n]}", None),
            "lambda:DeleteEventSourceMapping",
            arn,
            204,
        ),
    }
    base = "/2015-03-31/event-source-mappings"
    lambda_cases = {
        ("POST", base): (
            _queued,
            lambda n: (
                lambda c: c.create_event_source_mapping(
                    EventSourceArn=_queue_arn(n), FunctionName=n
                )
            ),
            "lambda:CreateEventSourceMapping",
            arn,
            202,
            _consumes,
        ),
        ("GET", base): (
            _mapped,
            lambda n: lambda c: c.list_event_source_mappings(FunctionName=n),
            "lambda:ListEventSourceMappings",
            arn,
        ),
        ("GET", base + "/{uuid}"): (
            _mapped,
            lambda n: lambda c: c.get_event_source_mapping(UUID=_MAPPINGS[n]),
            "lambda:GetEventSourceMapping",
            arn,
        ),
        ("PUT", base + "/{uuid}"): (
            _mapped,
            lambda n: lambda c: c.update_event_source_mapping(UUID=_MAPPINGS[n], BatchSize=5),
            "lambda:UpdateEventSourceMapping",
            arn,
            202,
        ),
        ("DELETE", base + "/{uuid}"): (
            _mapped,
            lambda n: lambda c: c.delete_event_source_mapping(UUID=_MAPPINGS[n]),
            "lambda:DeleteEventSourceMapping",
            arn,
            202,
        ),
    }
    return rest_cases, lambda_cases
