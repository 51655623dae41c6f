"""What both faces share at run time: the project, the engine, the invocation core, and the
endpoint wrapper that authenticates, authorizes and audits every route."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from lambeam.events.notifications import topic_arn, topic_name
from lambeam.events.queues import queue_arn
from lambeam.events.service import EventService
from lambeam.invoke import Invoker
from lambeam.project import Project
from lambeam.runtime import LATEST, Engine, function_arn
from lambeam.runtime.spec import split_function_name
from lambeam.security import AccessKey, AuthenticationError, KeyCache, PolicyCache, authorize
from lambeam.storage.audit import acting_as

__all__ = [
    "ANY_KEY",
    "Admit",
    "Admitted",
    "Gateway",
    "Handler",
    "Permission",
    "Resource",
    "authorize_key",
    "authorize_targets",
    "delivery_target",
    "endpoint",
    "function_resource",
    "gateway",
    "still_enabled",
]


@dataclass
class Gateway:
    """The server's parts; `auth=False` turns authentication off (never by default).

    `keys` is what the faces authenticate against: the project's access keys, each reused for a
    second after it is read (a key disabled by the CLI is refused within that second).
    `server_id` names this server process (health says it): `lambeam invoke` checks it against
    .lambeam/server.json before it sends anything, so a file that outlived its server never
    sends a call to another process that took the port.
    """

    project: Project
    engine: Engine
    invoker: Invoker
    events: EventService
    auth: bool = True
    server_id: str = field(default_factory=lambda: secrets.token_hex(16))
    keys: KeyCache = field(init=False)
    policies: PolicyCache = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.project.db)
        self.policies = PolicyCache(self.project.db)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of function `name` (a name, `name:qualifier` or an ARN) in this server's
        region and account, as the Lambda API writes it and policies name it."""
        name, qualifier = split_function_name(name, qualifier)
        if qualifier == LATEST:
            # $LATEST is what the unqualified ARN runs: one resource, however it is spelt (a
            # Deny on `function:churn` was passed by `churn:$LATEST`).
            qualifier = None
        return function_arn(name, self.engine.region, self.engine.account_id, qualifier)


def gateway(request: Request) -> Gateway:
    """The Gateway the app was built with."""
    found: Gateway = request.app.state.gateway
    return found


@dataclass(frozen=True)
class Admitted:
    """A request its face let in: the key that signed it (None with authentication off or on
    an open route) and its body."""

    key: AccessKey | None
    body: bytes


# The resource a request acts on (an ARN, or "*"), from its path, query and body.
Resource = Callable[[Request, "Gateway", bytes], str]


@dataclass(frozen=True)
class Permission:
    """What a route asks of the key's policy: `action` on the resource `resource` names; a
    route whose body says what it does (REST's PATCH of a function) gives `actions`, which
    names every action that body needs instead."""

    action: str
    resource: Resource
    actions: Callable[[bytes], tuple[str, ...]] | None = None

    def needs(self, body: bytes) -> tuple[str, ...]:
        """The actions a request with `body` needs."""
        return (self.action,) if self.actions is None else self.actions(body)


# A route any authenticated key may call (Lambda API paths lambeam does not implement: each
# answers UnknownOperationException, acting on nothing).
ANY_KEY = Permission("", lambda request, gw, body: "*")

Handler = Callable[[Request, "Gateway", bytes], Awaitable[Response]]
Admit = Callable[[Request, "Gateway"], Awaitable[Admitted]]


def function_resource(*, query: str, qualified: bool = True, alias: bool = False) -> Resource:
    """The route's function ARN from its `{name}` (and `{alias}`, or the qualifier in the name or
    in the query parameter `query` unless `qualified` is False).

    `query` is the one parameter the face's handlers read (the Lambda API's `Qualifier`, the REST
    API's `qualifier`): a resource checked from any other spelling would let a key allowed one
    version act on another (`?qualifier=1` on the Lambda API ran `$LATEST`).
    """

    def resource(request: Request, gw: Gateway, body: bytes) -> str:
        name = request.path_params["name"]
        if alias:
            return gw.arn(split_function_name(name)[0], request.path_params["alias"])
        if not qualified:
            return gw.arn(split_function_name(name)[0])
        return gw.arn(name, request.query_params.get(query) or None)

    return resource


async def still_enabled(gw: Gateway, key: AccessKey) -> None:
    """AuthenticationError if `key` was disabled while its request's body was being read (a
    slow body must not outlive its key's disabling): one cached lookup, a read when one is due."""
    if gw.keys.fresh(key.id):
        found = gw.keys.find(key.id)
    else:
        found = await asyncio.to_thread(gw.keys.find, key.id)
    if found is None or not found[0].enabled:
        raise AuthenticationError(
            f"access key {key.id} was disabled while its request was being read"
        )


async def authorize_key(gw: Gateway, key: AccessKey, action: str, resource: str) -> None:
    """AccessDeniedError unless `key`'s policy (its role's if it has none) allows `action` on
    `resource`; the policy is read in a thread when the cache has none fresh."""
    if gw.policies.fresh(key.id):
        policy = gw.policies.policy_for(key)
    else:
        policy = await asyncio.to_thread(gw.policies.policy_for, key)
    authorize(policy, key, action, resource)


async def authorize_targets(
    request: Request, gw: Gateway, targets: Iterable[tuple[str, str]]
) -> None:
    """AccessDeniedError unless the key that signed `request` may do each (action, resource)
    of `targets`: what a request points at (a mapping's queue, a destination, a subscriber, a
    schedule's function) besides what its route acts on. Nothing is asked with authentication
    off; a handler reached with authentication on but no key is a face's bug (refused)."""
    key = getattr(request.state, "key", None)
    if key is None:
        if gw.auth:
            raise RuntimeError(f"{request.url.path} reached its handler without a key")
        return
    for action, resource in targets:
        await authorize_key(gw, key, action, resource)


def delivery_target(
    gw: Gateway, kind: str, name: str, qualifier: str | None = None
) -> tuple[str, str]:
    """(action, ARN) a key needs to make lambeam deliver to a "function" (lambda:InvokeFunction),
    a "queue" (sqs:SendMessage) or a "topic" (sns:Publish) called `name`, in this server's
    region and account, spelt as the faces authorize each of them."""
    region, account = gw.engine.region, gw.engine.account_id
    if kind == "function":
        return "lambda:InvokeFunction", gw.arn(name, qualifier)
    if kind == "queue":
        return "sqs:SendMessage", queue_arn(name, region, account)
    if kind == "topic":
        return "sns:Publish", topic_arn(topic_name(name), region, account)
    raise ValueError(f"no delivery target of kind {kind!r}")


_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def endpoint(
    handler: Handler,
    admit: Admit,
    error: Callable[[Exception], Response],
    permission: Permission | None,
    *,
    invokes: bool = False,
) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: `admit` authenticates and reads the body (each face its own way),
    the key's policy must allow `permission` (None: an open route), `handler` answers as the
    key (the audit log records its changes as "key:<id> (<name>)"), and any exception becomes
    the face's error response.

    A request that may change function `{name}` (any write but an invoke) drops what the
    invoker cached about it, so the change applies to the very next invocation.
    """
    changes = not invokes

    async def answer(request: Request) -> Response:
        try:
            gw = gateway(request)
            try:
                admitted = await admit(request, gw)
                key = admitted.key
                if key is None:
                    if permission is not None and gw.auth:  # a face's bug, never a user's
                        raise RuntimeError(f"{request.url.path} was admitted without a key")
                    return await handler(request, gw, admitted.body)
                request.state.key = key  # authorize_targets asks it for what the body names
                if permission is not None and permission is not ANY_KEY:
                    resource = permission.resource(request, gw, admitted.body)
                    for action in permission.needs(admitted.body):
                        await authorize_key(gw, key, action, resource)
                with acting_as(f"key:{key.id} ({key.name})"):
                    return await handler(request, gw, admitted.body)
            finally:
                name = request.path_params.get("name")
                if changes and name and request.method in _CHANGES:
                    gw.invoker.forget(name)
        except Exception as exc:  # noqa: BLE001 - every error is answered in the face's form
            return error(exc)

    return answer
