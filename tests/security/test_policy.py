"""IAM-like key policies: validation, wildcards, Deny wins, default deny, storage and audit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambeam.security import (
    ACTIONS,
    AccessDeniedError,
    AccessKeyNotFoundError,
    PolicyCache,
    PolicyError,
    authorize,
    create_access_key,
    delete_key_policy,
    effective_policy,
    get_key_policy,
    parse_policy,
    put_key_policy,
    role_policy,
)
from lambeam.storage import Database
from lambeam.storage.audit import entries, verify

FN = "arn:aws:lambda:us-east-1:000000000000:function:"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_default_deny_and_allow_by_action_and_resource() -> None:
    policy = parse_policy(
        _policy({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FN + "churn"})
    )
    assert policy.allows("lambda:InvokeFunction", FN + "churn")
    assert not policy.allows("lambda:InvokeFunction", FN + "churn:prod")  # unqualified only
    assert not policy.allows("lambda:InvokeFunction", FN + "other")
    assert not policy.allows("lambda:GetFunction", FN + "churn")
    assert not parse_policy(_policy()).allows("lambda:InvokeFunction", FN + "churn")


def test_explicit_deny_wins_over_any_allow() -> None:
    policy = parse_policy(
        _policy(
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:Update*", "Resource": FN + "churn*"},
        )
    )
    assert policy.decide("lambda:UpdateAlias", FN + "churn:prod") == "explicit deny"
    assert policy.decide("lambda:UpdateFunctionCode", FN + "churn") == "explicit deny"
    assert policy.allows("lambda:UpdateFunctionCode", FN + "other")
    assert policy.allows("lambda:InvokeFunction", FN + "churn")
    # the order of the statements does not matter
    reordered = parse_policy(_policy(*reversed(policy.document["Statement"])))
    assert reordered.decide("lambda:UpdateAlias", FN + "churn:prod") == "explicit deny"


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("lambda:*", "lambda:InvokeFunction", True),
        ("lambda:Get*", "lambda:GetAlias", True),
        ("lambda:Get*", "lambda:ListAliases", False),
        ("LAMBDA:invokefunction", "lambda:InvokeFunction", True),  # actions ignore case
        ("lambda:?etAlias", "lambda:GetAlias", True),
        ("lambda:?etAlias", "lambda:GGetAlias", False),
        ("*", "sqs:SendMessage", True),
        ("models:*", "lambda:InvokeFunction", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    policy = parse_policy(_policy({"Effect": "Allow", "Action": pattern, "Resource": "*"}))
    assert policy.allows(action, FN + "x") is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (FN + "churn*", FN + "churn", True),
        (FN + "churn*", FN + "churn:7", True),
        (FN + "churn:*", FN + "churn", False),
        (FN + "churn:*", FN + "churn:prod", True),
        (FN + "churn:?", FN + "churn:7", True),
        (FN + "churn:?", FN + "churn:17", False),
        (FN + "Churn", FN + "churn", False),  # resources keep case
        ("arn:aws:lambda:*:*:function:churn", FN + "churn", True),
        ("arn:aws:lambda:eu-west-1:*:function:churn", FN + "churn", False),
        (FN + "a.b", FN + "axb", False),  # only * and ? are special
        ("*", FN + "anything:1", True),
    ],
)
def test_resource_wildcards(pattern: str, resource: str, matches: bool) -> None:
    policy = parse_policy(
        _policy({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [pattern]})
    )
    assert policy.allows("lambda:InvokeFunction", resource) is matches


def test_an_arn_statement_does_not_cover_actions_asked_on_star() -> None:
    policy = parse_policy(
        _policy({"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": FN + "*"})
    )
    assert not policy.allows("lambda:ListFunctions", "*")  # as IAM: ListFunctions needs "*"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("not json", "not JSON"),
        ([], "JSON object"),
        ({"Statement": []}, "Version"),
        ({"Version": "2012-10-17", "Statement": "x"}, "Statement must be"),
        ({"Version": "2012-10-17", "Statement": [], "Extra": 1}, "'Extra'"),
        (_policy({"Effect": "allow", "Action": "*", "Resource": "*"}), "Statement[0].Effect"),
        (_policy({"Effect": "Allow", "Resource": "*"}), "Statement[0].Action"),
        (_policy({"Effect": "Allow", "Action": [], "Resource": "*"}), "Statement[0].Action"),
        (
            _policy(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "typo", "Effect": "Allow", "Action": "lambda:Invok", "Resource": "*"},
            ),
            "Statement[1] (Sid 'typo').Action 'lambda:Invok' matches no lambeam action",
        ),
        (_policy({"Effect": "Allow", "Action": "InvokeFunction", "Resource": "*"}), "service:Name"),
        (_policy({"Effect": "Allow", "Action": "*", "Resource": "churn"}), "Statement[0].Resource"),
        (
            _policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}),
            "Statement[0]: field 'Condition' is not supported",
        ),
        (_policy({"Effect": "Allow", "Action": "*"}), "Statement[0].Resource"),
    ],
)
def test_invalid_documents_name_the_statement_and_field(document: Any, says: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(document if isinstance(document, str) else json.dumps(document))
    assert says in str(raised.value)


def test_a_single_statement_object_is_accepted() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": ACTIONS[0], "Resource": "*"},
    }
    assert parse_policy(document).allows(ACTIONS[0], "*")


def test_roles_act_as_their_policies() -> None:
    admin, invoker = role_policy("admin"), role_policy("invoker")
    for action in ACTIONS:
        assert admin.allows(action, FN + "x")
        assert invoker.allows(action, FN + "x") is (action == "lambda:InvokeFunction")
    assert not role_policy("unknown").allows("lambda:InvokeFunction", FN + "x")


def test_authorize_says_who_what_and_why() -> None:
    from lambeam.security import AccessKey
    from lambeam.storage import utcnow

    key = AccessKey("LBAKTESTTESTTESTTEST", "ci", "invoker", utcnow())
    authorize(role_policy("invoker"), key, "lambda:InvokeFunction", FN + "x")
    with pytest.raises(AccessDeniedError) as raised:
        authorize(role_policy("invoker"), key, "lambda:DeleteFunction", FN + "x")
    message = str(raised.value)
    assert "LBAKTESTTESTTESTTEST (ci)" in message and "lambda:DeleteFunction" in message
    assert FN + "x" in message and "role invoker" in message
    assert raised.value.http_status == 403 and raised.value.lambda_error == "AccessDeniedException"
    deny = parse_policy(_policy({"Effect": "Deny", "Action": "*", "Resource": "*"}))
    with pytest.raises(AccessDeniedError, match="explicit deny"):
        authorize(deny, key, "lambda:InvokeFunction", FN + "x")


def test_stored_policies_are_audited_and_cached(db: Database) -> None:
    key = create_access_key(db, "ci", role="invoker")
    assert get_key_policy(db, key.id) is None
    assert effective_policy(db, key).source == "role invoker"
    cache = PolicyCache(db, ttl_s=3600)
    assert not cache.policy_for(key).allows("lambda:GetFunction", FN + "x")

    document = _policy({"Effect": "Allow", "Action": "lambda:Get*", "Resource": "*"})
    put_key_policy(db, key.id, json.dumps(document))
    stored = get_key_policy(db, key.id)
    assert stored is not None and stored.document == document
    assert effective_policy(db, key).allows("lambda:GetFunction", FN + "x")
    assert not effective_policy(db, key).allows("lambda:InvokeFunction", FN + "x")
    # a server's cache keeps what it read for its ttl; a fresh one sees the change
    assert cache.fresh(key.id)
    assert not cache.policy_for(key).allows("lambda:GetFunction", FN + "x")
    assert PolicyCache(db, ttl_s=0).policy_for(key).allows("lambda:GetFunction", FN + "x")

    assert delete_key_policy(db, key.id) is True
    assert delete_key_policy(db, key.id) is False
    assert get_key_policy(db, key.id) is None

    changes = entries(db, resource_prefix=f"key:{key.id}")
    policy_changes = [e for e in changes if e.action.endswith("KeyPolicy")]
    assert [e.action for e in policy_changes] == ["keys:PutKeyPolicy", "keys:DeleteKeyPolicy"]
    assert policy_changes[0].details["policy"] == document
    assert policy_changes[1].details["previous"] == document
    assert verify(db).ok


def test_policies_need_an_existing_key_and_a_valid_document(db: Database) -> None:
    with pytest.raises(AccessKeyNotFoundError):
        put_key_policy(db, "LBAKNOSUCHKEYNOSUCHK", _policy())
    key = create_access_key(db, "ci")
    with pytest.raises(PolicyError):
        put_key_policy(db, key.id, {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]})
    assert get_key_policy(db, key.id) is None
    assert not [e for e in entries(db) if e.action == "keys:PutKeyPolicy"]


def test_a_roles_policy_is_made_once() -> None:
    """A server asks for it on every request: parsing it each time cost a quarter of a model
    function's throughput (bench/serve.py, 14.1k against 10.3k requests/s)."""
    assert role_policy("admin") is role_policy("admin")
    assert role_policy("invoker") is not role_policy("admin")


def test_a_policy_with_a_number_past_pythons_limit_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        parse_policy('{"Version": ' + "9" * 5000 + "}")
