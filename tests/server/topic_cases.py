"""The policy matrix's cases for the topic and object-trigger routes (lambeam/server/rest_topics.py):
(setup, call, action, resource, status, targets) per route, as tests/server/test_policy_matrix.py's Case
takes them. A setup returns the name of what it made; routes that also need an id get
"NAME/ID"."""

from __future__ import annotations

from typing import Any

from lambeam.events.objects import create_object_trigger
from lambeam.events.topics import create_topic, subscribe
from tests.server.conftest import RunningServer
from tests.server.keyed import arn, code_function, fresh_name

# Object triggers watch a folder of the server's project (never created: empty), by its name


def _new(server: RunningServer) -> str:
    return fresh_name()


def _topic(server: RunningServer) -> str:
    name = fresh_name()
    create_topic(server.project.db, name)
    return name


def _function_and_topic(server: RunningServer) -> str:
    name = code_function(server)
    create_topic(server.project.db, name)
    return name


def _subscribed(server: RunningServer) -> str:
    name = _function_and_topic(server)
    return f"{name}/{subscribe(server.project.db, name, 'lambda', name).id}"


def _function(server: RunningServer) -> str:
    return code_function(server)


def _trigger(server: RunningServer) -> str:
    name = code_function(server)
    settings = server.project.settings
    trigger = create_object_trigger(server.project.db, name, name, settings=settings)
    return f"{name}/{trigger.id}"


def _topic_arn(name: str) -> str:
    return f"arn:aws:sns:*:*:{name.split('/')[0]}"


def _folder_arn(name: str) -> str:
    return f"arn:lambeam:folder:::*/{name.split('/')[0]}"


def _any(name: str) -> str:
    return "*"


def _id(name: str) -> str:
    return name.split("/")[1]


def topic_cases() -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every topic and object-trigger route's case."""
    return {
        ("GET", "/v1/topics"): (
            _new,
            lambda n: ("GET", "/v1/topics", None),
            "sns:ListTopics",
            _any,
        ),
        ("POST", "/v1/topics"): (
            _new,
            lambda n: ("POST", "/v1/topics", {"name": n}),
            "sns:CreateTopic",
            _topic_arn,
            201,
        ),
        ("GET", "/v1/topics/{topic}"): (
            _topic,
            lambda n: ("GET", f"/v1/topics/{n}", None),
            "sns:GetTopicAttributes",
            _topic_arn,
        ),
        ("DELETE", "/v1/topics/{topic}"): (
            _topic,
            lambda n: ("DELETE", f"/v1/topics/{n}", None),
            "sns:DeleteTopic",
            _topic_arn,
            204,
        ),
        ("POST", "/v1/topics/{topic}/publish"): (
            _topic,
            lambda n: ("POST", f"/v1/topics/{n}/publish", {"message": "hi"}),
            "sns:Publish",
            _topic_arn,
        ),
        ("GET", "/v1/topics/{topic}/subscriptions"): (
            _topic,
            lambda n: ("GET", f"/v1/topics/{n}/subscriptions", None),
            "sns:ListSubscriptionsByTopic",
            _topic_arn,
        ),
        ("POST", "/v1/topics/{topic}/subscriptions"): (
            _function_and_topic,
            lambda n: (
                "POST",
                f"/v1/topics/{n}/subscriptions",
                {"protocol": "lambda", "endpoint": n},
            ),
            "sns:Subscribe",
            _topic_arn,
            201,
            lambda n: [("lambda:InvokeFunction", arn(n))],
        ),
        ("DELETE", "/v1/topics/{topic}/subscriptions/{id}"): (
            _subscribed,
            lambda n: ("DELETE", f"/v1/topics/{n.split('/')[0]}/subscriptions/{_id(n)}", None),
            "sns:Unsubscribe",
            _topic_arn,
            204,
        ),
        ("GET", "/v1/object-triggers"): (
            _new,
            lambda n: ("GET", "/v1/object-triggers", None),
            "s3:GetBucketNotification",
            _any,
        ),
        ("POST", "/v1/object-triggers"): (
            _function,
            lambda n: (
                "POST",
                "/v1/object-triggers",
                {"function": n, "location": n},
            ),
            "s3:PutBucketNotification",
            _folder_arn,
            201,
            lambda n: [("lambda:InvokeFunction", arn(n))],
        ),
        ("GET", "/v1/object-triggers/{id}"): (
            _trigger,
            lambda n: ("GET", f"/v1/object-triggers/{_id(n)}", None),
            "s3:GetBucketNotification",
            _folder_arn,
        ),
        ("DELETE", "/v1/object-triggers/{id}"): (
            _trigger,
            lambda n: ("DELETE", f"/v1/object-triggers/{_id(n)}", None),
            "s3:PutBucketNotification",
            _folder_arn,
            204,
        ),
    }
