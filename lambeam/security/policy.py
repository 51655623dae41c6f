"""IAM-like policies attached to access keys: what a key may do, on which resources.

    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                    "Resource": "arn:aws:lambda:*:*:function:churn:*"},
                   {"Effect": "Deny", "Action": "lambda:*",
                    "Resource": "arn:aws:lambda:*:*:function:churn:staging"}]}

Evaluated as IAM evaluates an identity policy: an explicit Deny wins, else an Allow allows, else
the request is denied. `*` and `?` are wildcards in actions (matched without regard to case, as
IAM does) and resources (matched with regard to case). Resources are ARNs as the Lambda API
writes them: `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`, so a statement on
`function:churn` covers calls without a qualifier only; `function:churn*` covers its versions and
aliases too. Actions that act on no one resource (lambda:ListFunctions) are asked on `*`.

A key without a policy acts by its role (ROLE_POLICIES): admin may do anything, invoker may
invoke any function. Policies are stored in `key_policies`, and every change is audited.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy.orm import Session

from lambeam.security.errors import AccessDeniedError, AccessKeyNotFoundError, PolicyError
from lambeam.security.keys import KEY_TTL_S, AccessKey
from lambeam.storage import Database, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import AccessKeyRow, KeyPolicyRow

__all__ = [
    "ACTIONS",
    "ALLOW",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "MAX_POLICY_CHARS",
    "POLICY_VERSION",
    "ROLE_POLICIES",
    "Policy",
    "PolicyCache",
    "Statement",
    "authorize",
    "delete_key_policy",
    "effective_policy",
    "get_key_policy",
    "parse_policy",
    "put_key_policy",
    "role_policy",
]

POLICY_VERSION = "2012-10-17"
# Every action a policy can name; a pattern that matches none of them is a typo, and refused.
ACTIONS = (
    "lambda:InvokeFunction",
    "lambda:CreateFunction",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:ListFunctions",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:DeleteFunction",
    "lambda:PublishVersion",
    "lambda:ListVersionsByFunction",
    "lambda:CreateAlias",
    "lambda:GetAlias",
    "lambda:ListAliases",
    "lambda:UpdateAlias",
    "lambda:DeleteAlias",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:GetFunctionConcurrency",
    "lambda:CreateEventSourceMapping",
    "lambda:GetEventSourceMapping",
    "lambda:ListEventSourceMappings",
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping",
    "lambda:PutFunctionEventInvokeConfig",
    "lambda:UpdateFunctionEventInvokeConfig",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:DeleteFunctionEventInvokeConfig",
    "lambda:ListFunctionEventInvokeConfigs",
    "models:SetAlias",
    "keys:CreateAccessKey",
    "keys:ListAccessKeys",
    "keys:DisableAccessKey",
    "keys:GetKeyPolicy",
    "keys:PutKeyPolicy",
    "keys:DeleteKeyPolicy",
    # SQS's actions, on the queue's ARN (a batch action asks for its single one, as in IAM)
    "sqs:CreateQueue",
    "sqs:GetQueueUrl",
    "sqs:ListQueues",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
    # SNS's actions on the topic's ARN; S3's bucket notification actions on arn:aws:s3:::BUCKET
    # for object-created triggers
    "sns:CreateTopic",
    "sns:GetTopicAttributes",
    "sns:ListTopics",
    "sns:DeleteTopic",
    "sns:Publish",
    "sns:Subscribe",
    "sns:Unsubscribe",
    "sns:ListSubscriptionsByTopic",
    "s3:PutBucketNotification",
    "s3:GetBucketNotification",
    # EventBridge Scheduler's actions, on arn:aws:scheduler:REGION:ACCOUNT:schedule/default/NAME
    "scheduler:CreateSchedule",
    "scheduler:GetSchedule",
    "scheduler:ListSchedules",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
)
ROLE_POLICIES: Mapping[str, Mapping[str, Any]] = {
    "admin": {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "invoker": {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    },
}
# IAM's own limit for a user's inline policy is 2,048 characters (10,240 for a managed one).
MAX_POLICY_CHARS = 10_240
ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit deny", "implicit deny"
_EFFECTS = ("Allow", "Deny")
_TOP_FIELDS = {"Version", "Statement", "Id"}
_STATEMENT_FIELDS = {"Sid", "Effect", "Action", "Resource"}
_ACTION = re.compile(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+|\*")
_ARN_PARTS = 6  # arn:partition:service:region:account:resource


@dataclass(frozen=True)
class Statement:
    """One statement: `effect` ("Allow" or "Deny") on any of `actions` and any of `resources`."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    sid: str | None = None

    def __post_init__(self) -> None:
        # Compiled once: a statement is asked about on every request its key makes.
        object.__setattr__(self, "_action", _wildcards(self.actions, re.IGNORECASE))
        object.__setattr__(self, "_resource", _wildcards(self.resources, 0))

    def applies(self, action: str, resource: str) -> bool:
        """Whether this statement speaks about `action` on `resource`."""
        matches_action: re.Pattern[str] = self._action  # type: ignore[attr-defined]
        matches_resource: re.Pattern[str] = self._resource  # type: ignore[attr-defined]
        return bool(matches_action.fullmatch(action) and matches_resource.fullmatch(resource))


@dataclass(frozen=True)
class Policy:
    """A validated policy document; `source` says where it came from ("policy" or "role …")."""

    statements: tuple[Statement, ...]
    document: Mapping[str, Any]
    source: str = "policy"

    def decide(self, action: str, resource: str) -> str:
        """ALLOW, EXPLICIT_DENY (a Deny statement matches: it wins) or IMPLICIT_DENY (none
        allows)."""
        allowed = False
        for statement in self.statements:
            if statement.applies(action, resource):
                if statement.effect == "Deny":
                    return EXPLICIT_DENY
                allowed = True
        return ALLOW if allowed else IMPLICIT_DENY

    def allows(self, action: str, resource: str) -> bool:
        """Whether `action` on `resource` is allowed."""
        return self.decide(action, resource) == ALLOW


def parse_policy(value: str | Mapping[str, Any], *, source: str = "policy") -> Policy:
    """A Policy from a document (a mapping or its JSON text); PolicyError names what is wrong."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"the policy is not JSON: {exc}") from None
        except RecursionError:
            raise PolicyError("the policy is nested too deeply to read") from None
        except ValueError as exc:  # an integer past Python's digit limit
            raise PolicyError(f"the policy cannot be read: {exc}") from None
    if not isinstance(value, Mapping):
        raise PolicyError('a policy must be a JSON object with "Version" and "Statement"')
    document = dict(value)
    if len(json.dumps(document, separators=(",", ":"))) > MAX_POLICY_CHARS:
        raise PolicyError(f"the policy is longer than {MAX_POLICY_CHARS} characters")
    unknown = sorted(set(document) - _TOP_FIELDS)
    if unknown:
        raise PolicyError(
            f"policy field {unknown[0]!r} is not supported; a policy has Version, Statement and Id"
        )
    if document.get("Version") != POLICY_VERSION:
        raise PolicyError(
            f'policy Version must be "{POLICY_VERSION}", not {document.get("Version")!r}'
        )
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise PolicyError("policy Statement must be a statement object or a list of them")
    statements = tuple(_statement(item, index) for index, item in enumerate(raw))
    return Policy(statements, document, source)


@functools.cache
def role_policy(role: str) -> Policy:
    """The policy a key of `role` acts by when it has none of its own (an unknown role: none);
    made once per role (a server asks on every request)."""
    document = ROLE_POLICIES.get(role, {"Version": POLICY_VERSION, "Statement": []})
    return parse_policy(document, source=f"role {role}")


def get_key_policy(db: Database, key_id: str) -> Policy | None:
    """The policy attached to `key_id`, or None (it acts by its role)."""
    with db.session() as session:
        _existing_key(session, key_id)
        row = session.get(KeyPolicyRow, key_id)
        return None if row is None else parse_policy(row.document)


def put_key_policy(db: Database, key_id: str, document: str | Mapping[str, Any]) -> Policy:
    """Attach `document` to `key_id` (replacing any before it), audited in the same transaction."""
    policy = parse_policy(document)
    with db.session() as session:
        _existing_key(session, key_id)
        row = session.get(KeyPolicyRow, key_id)
        previous = None if row is None else row.document
        if row is None:
            session.add(
                KeyPolicyRow(key_id=key_id, document=dict(policy.document), updated_at=utcnow())
            )
        else:
            row.document = dict(policy.document)
            row.updated_at = utcnow()
        record(
            session,
            "keys:PutKeyPolicy",
            f"key:{key_id}",
            {"policy": dict(policy.document), "previous": previous},
        )
    return policy


def delete_key_policy(db: Database, key_id: str) -> bool:
    """Detach `key_id`'s policy (it acts by its role again); False when it had none."""
    with db.session() as session:
        _existing_key(session, key_id)
        row = session.get(KeyPolicyRow, key_id)
        if row is None:
            return False
        record(session, "keys:DeleteKeyPolicy", f"key:{key_id}", {"previous": row.document})
        session.delete(row)
    return True


def effective_policy(db: Database, key: AccessKey) -> Policy:
    """What `key` acts by: its own policy, else its role's."""
    return get_key_policy(db, key.id) or role_policy(key.role)


def authorize(policy: Policy, key: AccessKey, action: str, resource: str) -> None:
    """AccessDeniedError (403) unless `policy` allows `key` to do `action` on `resource`."""
    decision = policy.decide(action, resource)
    if decision == ALLOW:
        return
    if decision == EXPLICIT_DENY:
        why = f"of an explicit deny in its {policy.source}"
    elif policy.source == "policy":
        why = f"no statement of its policy allows {action}"
    else:
        why = (
            f"its {policy.source} does not allow {action} and it has no policy of its own"
            f" (lambeam keys policy {key.id} --set …)"
        )
    raise AccessDeniedError(
        f"key {key.id} ({key.name}) is not authorized to perform: {action} on resource:"
        f" {resource} because {why}",
        action=action,
        resource=resource,
    )


class PolicyCache:
    """The policies a server authorizes with, each reused for `ttl_s` (as KeyCache reuses keys):
    a policy changed by the CLI applies within that time."""

    def __init__(
        self, db: Database, ttl_s: float = KEY_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self._caching = ttl_s > 0
        self._found: TTLCache[str, Policy | None] = TTLCache(
            maxsize=10_000, ttl=max(ttl_s, 1e-9), timer=clock
        )

    def fresh(self, key_id: str) -> bool:
        """Whether `policy_for` would answer for `key_id` without the database."""
        return key_id in self._found

    def policy_for(self, key: AccessKey) -> Policy:
        """`key`'s own policy (read at most every `ttl_s`), else its role's."""
        try:
            found = self._found[key.id]
        except KeyError:
            with self.db.session() as session:
                row = session.get(KeyPolicyRow, key.id)
                found = None if row is None else parse_policy(row.document)
            if self._caching:
                self._found[key.id] = found
        return found or role_policy(key.role)


def _existing_key(session: Session, key_id: str) -> None:
    if session.get(AccessKeyRow, key_id) is None:
        raise AccessKeyNotFoundError(f"no access key {key_id!r}")


def _statement(item: object, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(item, Mapping):
        raise PolicyError(f"{where} must be an object with Effect, Action and Resource")
    sid = item.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise PolicyError(f"{where}.Sid must be a string")
        where = f"{where} (Sid {sid!r})"
    unknown = sorted(set(item) - _STATEMENT_FIELDS)
    if unknown:
        raise PolicyError(
            f"{where}: field {unknown[0]!r} is not supported; a statement has Sid, Effect,"
            " Action and Resource"
        )
    effect = item.get("Effect")
    if effect not in _EFFECTS:
        raise PolicyError(f'{where}.Effect must be "Allow" or "Deny", not {effect!r}')
    actions = _strings(item.get("Action"), f"{where}.Action")
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise PolicyError(
                f"{where}.Action {action!r} is not an action: write service:Name, e.g."
                " lambda:InvokeFunction (wildcards * and ? allowed)"
            )
        if not any(_wildcards((action,), re.IGNORECASE).fullmatch(known) for known in ACTIONS):
            raise PolicyError(
                f"{where}.Action {action!r} matches no lambeam action; they are {', '.join(ACTIONS)}"
            )
    resources = _strings(item.get("Resource"), f"{where}.Resource")
    for resource in resources:
        if resource != "*" and (
            not resource.startswith("arn:") or len(resource.split(":", _ARN_PARTS - 1)) < _ARN_PARTS
        ):
            raise PolicyError(
                f"{where}.Resource {resource!r} is not an ARN or *: write e.g."
                " arn:aws:lambda:*:*:function:NAME (or NAME:QUALIFIER, or NAME* for every version"
                " and alias)"
            )
    return Statement(effect, actions, resources, sid)


def _strings(value: object, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings")
    return tuple(values)


def _wildcards(patterns: tuple[str, ...], flags: int) -> re.Pattern[str]:
    """One expression matching any of `patterns`, where `*` is any run and `?` one character."""
    parts = (re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns)
    return re.compile("|".join(f"(?:{part})" for part in parts), flags | re.DOTALL)
