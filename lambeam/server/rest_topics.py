"""The REST API's topics and object triggers.

    GET    /v1/topics                                  every topic
    POST   /v1/topics                                  {"name", "attributes"?}: 201 (existing: 200)
    GET    /v1/topics/{topic}                          one topic
    DELETE /v1/topics/{topic}                          it and its subscriptions
    POST   /v1/topics/{topic}/publish                  {"message", "subject"?, "message_attributes"?}
    GET    /v1/topics/{topic}/subscriptions            its subscriptions
    POST   /v1/topics/{topic}/subscriptions            {"protocol": "lambda" | "sqs", "endpoint",
                                                        "qualifier"?, "raw_message_delivery"?}
    DELETE /v1/topics/{topic}/subscriptions/{id}       unsubscribe
    GET    /v1/object-triggers                         every object trigger (?function=)
    POST   /v1/object-triggers                         {"function", "location", "suffix"?,
                                                        "qualifier"?}: 201
    GET    /v1/object-triggers/{id}
    DELETE /v1/object-triggers/{id}

Topics are authorized as SNS names its actions (sns:Publish on the topic's ARN, …), a
subscription also as what it delivers to (lambda:InvokeFunction or sqs:SendMessage); object
triggers as S3 names the bucket notification they stand for (s3:PutBucketNotification and
s3:GetBucketNotification on arn:aws:s3:::BUCKET; on arn:lambeam:folder:::/REAL/PATH for a local
folder, resolved as the trigger stores it: lambeam.events.object_locations).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambeam.errors import ConfigError, LambeamError, SubscriptionNotFoundError
from lambeam.events.asynchronous import ASYNC_QUEUE
from lambeam.events.notifications import topic_name
from lambeam.events.object_locations import location_arn
from lambeam.events.objects import (
    create_object_trigger,
    delete_object_trigger,
    get_object_trigger,
    list_object_triggers,
    normalized_location,
    object_storage_options,
)
from lambeam.events.queues import queue_name_from_arn
from lambeam.events.topics import (
    create_topic,
    delete_topic,
    get_topic,
    list_subscriptions,
    list_topics,
    publish_message,
    subscribe,
    topic_arn,
    unsubscribe,
)
from lambeam.runtime.spec import split_function_name
from lambeam.server._gateway import (
    Gateway,
    Handler,
    Permission,
    authorize_targets,
    delivery_target,
)
from lambeam.server._requests import json_object

__all__ = ["ROUTES"]


def _where(gw: Gateway) -> dict[str, str]:
    return {"region": gw.engine.region, "account_id": gw.engine.account_id}


async def _list_topics(request: Request, gw: Gateway, body: bytes) -> Response:
    topics = await asyncio.to_thread(list_topics, gw.project.db, **_where(gw))
    return JSONResponse({"topics": [t.to_dict() for t in topics]})


async def _create_topic(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("name", "attributes"))
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("name is required: the topic's name")

    def create() -> tuple[Any, bool]:
        try:
            get_topic(gw.project.db, name)
            existed = True
        except LambeamError:
            existed = False
        return create_topic(gw.project.db, name, fields.get("attributes"), **_where(gw)), existed

    topic, existed = await asyncio.to_thread(create)
    return JSONResponse(topic.to_dict(), status_code=200 if existed else 201)


async def _get_topic(request: Request, gw: Gateway, body: bytes) -> Response:
    name = request.path_params["topic"]
    topic = await asyncio.to_thread(get_topic, gw.project.db, name, **_where(gw))
    return JSONResponse(topic.to_dict())


async def _delete_topic(request: Request, gw: Gateway, body: bytes) -> Response:
    await asyncio.to_thread(delete_topic, gw.project.db, request.path_params["topic"])
    return Response(status_code=204)


async def _publish(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("message", "subject", "message_attributes"))
    message = fields.get("message")
    if not isinstance(message, str):
        raise ConfigError("message is required: the text to publish")
    published = await asyncio.to_thread(
        publish_message,
        gw.events.queue,
        request.path_params["topic"],
        message,
        fields.get("subject"),
        fields.get("message_attributes"),
        **_where(gw),
    )
    if published.request_ids:
        gw.events.wake(ASYNC_QUEUE)
    for queue in published.queues:
        gw.events.wake(queue)
    return JSONResponse({"message_id": published.message_id})


async def _subscriptions(request: Request, gw: Gateway, body: bytes) -> Response:
    found = await asyncio.to_thread(
        list_subscriptions, gw.project.db, request.path_params["topic"], **_where(gw)
    )
    return JSONResponse({"subscriptions": [s.to_dict() for s in found]})


async def _subscribe(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("protocol", "endpoint", "qualifier", "raw_message_delivery"))
    protocol, endpoint = fields.get("protocol"), fields.get("endpoint")
    if not isinstance(protocol, str) or not isinstance(endpoint, str):
        raise ConfigError(
            'protocol ("lambda" or "sqs") and endpoint (a function or queue) are required'
        )
    raw = fields.get("raw_message_delivery", False)
    if not isinstance(raw, bool):
        raise ConfigError("raw_message_delivery must be true or false")
    await _may_deliver(request, gw, protocol, endpoint, fields.get("qualifier"))
    subscription = await asyncio.to_thread(
        subscribe,
        gw.project.db,
        request.path_params["topic"],
        protocol,
        endpoint,
        qualifier=fields.get("qualifier"),
        raw_message_delivery=raw,
        **_where(gw),
    )
    return JSONResponse(subscription.to_dict(), status_code=201)


async def _may_deliver(
    request: Request, gw: Gateway, protocol: str, endpoint: str, qualifier: Any
) -> None:
    """lambda:InvokeFunction or sqs:SendMessage on what a subscription would deliver to (an
    unknown protocol or a bad qualifier is left for subscribe to refuse)."""
    if protocol == "lambda" and (qualifier is None or isinstance(qualifier, str)):
        name, qualifier = split_function_name(endpoint, qualifier)
        await authorize_targets(request, gw, [delivery_target(gw, "function", name, qualifier)])
    elif protocol == "sqs":
        try:
            name = queue_name_from_arn(endpoint)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        await authorize_targets(request, gw, [delivery_target(gw, "queue", name)])


async def _unsubscribe(request: Request, gw: Gateway, body: bytes) -> Response:
    topic, given = request.path_params["topic"], request.path_params["id"]
    wanted = given.rsplit(":", 1)[-1] if given.startswith("arn:") else given

    def drop() -> None:
        # only {topic}'s own: a key allowed sns:Unsubscribe on one topic ends no other's
        found = list_subscriptions(gw.project.db, topic, **_where(gw))
        if not any(subscription.id == wanted for subscription in found):
            raise SubscriptionNotFoundError(f"no subscription {given!r} of topic {topic!r}")
        unsubscribe(gw.project.db, wanted)

    await asyncio.to_thread(drop)
    return Response(status_code=204)


async def _list_triggers(request: Request, gw: Gateway, body: bytes) -> Response:
    function = request.query_params.get("function") or None
    triggers = await asyncio.to_thread(list_object_triggers, gw.project.db, function)
    return JSONResponse({"object_triggers": [t.to_dict() for t in triggers]})


async def _create_trigger(request: Request, gw: Gateway, body: bytes) -> Response:
    fields = json_object(body, fields=("function", "location", "suffix", "qualifier"))
    function, location = fields.get("function"), fields.get("location")
    if not isinstance(function, str) or not isinstance(location, str):
        raise ConfigError("function and location (a folder or s3://bucket/prefix/) are required")
    qualifier = fields.get("qualifier")
    # Each new object invokes the function: the key must be allowed to invoke it.
    await authorize_targets(request, gw, [delivery_target(gw, "function", function, qualifier)])
    settings = gw.project.settings
    trigger = await asyncio.to_thread(
        create_object_trigger,
        gw.project.db,
        function,
        location,
        suffix=fields.get("suffix") or "",
        qualifier=qualifier,
        settings=settings,
        root=settings.root,
        storage_options=object_storage_options(settings),
    )
    return JSONResponse(trigger.to_dict(), status_code=201)


async def _get_trigger(request: Request, gw: Gateway, body: bytes) -> Response:
    trigger = await asyncio.to_thread(get_object_trigger, gw.project.db, request.path_params["id"])
    return JSONResponse(trigger.to_dict())


async def _delete_trigger(request: Request, gw: Gateway, body: bytes) -> Response:
    await asyncio.to_thread(delete_object_trigger, gw.project.db, request.path_params["id"])
    return Response(status_code=204)


def _topic(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the topic the path names, by name or ARN (one resource however it is spelt:
    an ARN in the path was wrapped again and passed a Deny on the topic's ARN)."""
    return _topic_of(request.path_params["topic"], gw)


def _created_topic(request: Request, gw: Gateway, body: bytes) -> str:
    """The ARN of the topic a create names ("*" when the body names none)."""
    try:
        name = json.loads(body).get("name")
    except (ValueError, AttributeError, RecursionError):
        name = None
    return _topic_of(name, gw)


def _topic_of(name: Any, gw: Gateway) -> str:
    if not isinstance(name, str) or not name:
        return "*"
    return topic_arn(topic_name(name), gw.engine.region, gw.engine.account_id)


def _anywhere(request: Request, gw: Gateway, body: bytes) -> str:
    return "*"


def _bucket_of_body(request: Request, gw: Gateway, body: bytes) -> str:
    """The resource of the location a create names, resolved as the trigger will store it:
    arn:aws:s3:::BUCKET, or arn:lambeam:folder:::/REAL/PATH for a folder (object_locations)."""
    try:
        location = json.loads(body).get("location")
    except (ValueError, AttributeError, RecursionError):
        location = None
    if not isinstance(location, str) or not location:
        return "*"
    try:
        location = normalized_location(location, gw.project.settings.root)
    except (LambeamError, OSError, ValueError):
        return "*"  # refused by the create itself
    return location_arn(location, gw.project.settings.root)


def _bucket_of_trigger(request: Request, gw: Gateway, body: bytes) -> str:
    """The resource of the trigger the path names, as its create named it ("*" when there is
    none: the key is then told it does not exist only if it may act on anything)."""
    try:
        trigger = get_object_trigger(gw.project.db, request.path_params["id"])
    except LambeamError:
        return "*"
    return trigger.resource(gw.project.settings.root)


def _sns(action: str, resource: Any = _topic) -> Permission:
    return Permission(f"sns:{action}", resource)


_TOPIC = "/v1/topics/{topic}"
_TRIGGER = "/v1/object-triggers/{id}"
# (path, method, handler, permission, summary), spliced into rest.ROUTES.
ROUTES: list[tuple[str, str, Handler, Permission | None, str]] = [
    ("/v1/topics", "GET", _list_topics, _sns("ListTopics", _anywhere), "List topics"),
    (
        "/v1/topics",
        "POST",
        _create_topic,
        _sns("CreateTopic", _created_topic),
        "Create a topic (an existing one is returned)",
    ),
    (_TOPIC, "GET", _get_topic, _sns("GetTopicAttributes"), "Get a topic"),
    (_TOPIC, "DELETE", _delete_topic, _sns("DeleteTopic"), "Delete a topic and its subscriptions"),
    (
        f"{_TOPIC}/publish",
        "POST",
        _publish,
        _sns("Publish"),
        "Publish a message to every subscriber",
    ),
    (
        f"{_TOPIC}/subscriptions",
        "GET",
        _subscriptions,
        _sns("ListSubscriptionsByTopic"),
        "List a topic's subscriptions",
    ),
    (
        f"{_TOPIC}/subscriptions",
        "POST",
        _subscribe,
        _sns("Subscribe"),
        "Subscribe a function or a queue",
    ),
    (
        f"{_TOPIC}/subscriptions/{{id}}",
        "DELETE",
        _unsubscribe,
        _sns("Unsubscribe"),
        "Unsubscribe",
    ),
    (
        "/v1/object-triggers",
        "GET",
        _list_triggers,
        Permission("s3:GetBucketNotification", _anywhere),
        "List object-created triggers (?function=)",
    ),
    (
        "/v1/object-triggers",
        "POST",
        _create_trigger,
        Permission("s3:PutBucketNotification", _bucket_of_body),
        "Watch a folder or s3:// prefix for new objects",
    ),
    (
        _TRIGGER,
        "GET",
        _get_trigger,
        Permission("s3:GetBucketNotification", _bucket_of_trigger),
        "Get an object trigger",
    ),
    (
        _TRIGGER,
        "DELETE",
        _delete_trigger,
        Permission("s3:PutBucketNotification", _bucket_of_trigger),
        "Stop watching",
    ),
]
