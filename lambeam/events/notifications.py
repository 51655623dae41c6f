"""SNS's names and wire shapes: topic names and ARNs, the Lambda event of a notification, the JSON envelope an SQS subscriber
receives, and message attributes as SNS hands them on.

    event = lambda_event(notification, subscription_arn, unsubscribe_url)
    body = envelope(notification, unsubscribe_url)

`notification` holds MessageId, TopicArn, Subject (None when not given), Message, Timestamp and
MessageAttributes ({name: {"Type", "Value"}}). The two shapes differ as SNS's do: the Lambda
record spells `SigningCertUrl` / `UnsubscribeUrl` and always has Subject and MessageAttributes;
the envelope spells `SigningCertURL` / `UnsubscribeURL` and leaves out a missing Subject and
empty attributes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lambeam.errors import ConfigError
from lambeam.runtime.engine import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

__all__ = [
    "envelope",
    "lambda_event",
    "message_attributes_of",
    "sns_timestamp",
    "topic_arn",
    "topic_name",
]

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_DATA_TYPES = ("String", "Number", "Binary", "String.Array")


def topic_arn(name: str, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """arn:aws:sns:<region>:<account>:<name>, as SNS writes it."""
    return f"arn:aws:sns:{region}:{account_id}:{name}"


def topic_name(name_or_arn: str) -> str:
    """The topic a name or an SNS topic ARN names; ConfigError when it cannot be one."""
    name = name_or_arn
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        if len(parts) != 6 or parts[2] != "sns":
            raise ConfigError(
                f"{name_or_arn!r} is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )
        name = parts[5]
    if not _TOPIC_NAME.fullmatch(name):
        raise ConfigError(
            f"topic name {name!r} is not valid: 1 to 256 letters, digits, hyphens and underscores"
            " (FIFO topics are not supported)"
        )
    return name


def sns_timestamp(epoch_s: float) -> str:
    """SNS's Timestamp: ISO 8601 in UTC with milliseconds, e.g. 2019-01-02T12:45:07.000Z."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lambda_event(
    notification: Mapping[str, Any], subscription_arn: str, unsubscribe_url: str
) -> dict[str, Any]:
    """The event a subscribed function receives (one record, as SNS sends one per invoke)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": notification["MessageId"],
                    "TopicArn": notification["TopicArn"],
                    "Subject": notification["Subject"],
                    "Message": notification["Message"],
                    "Timestamp": notification["Timestamp"],
                    "SignatureVersion": "1",
                    "Signature": "",
                    "SigningCertUrl": "",
                    "UnsubscribeUrl": unsubscribe_url,
                    "MessageAttributes": dict(notification["MessageAttributes"]),
                },
            }
        ]
    }


def envelope(notification: Mapping[str, Any], unsubscribe_url: str) -> dict[str, Any]:
    """The JSON body a queue subscriber receives without RawMessageDelivery."""
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": notification["MessageId"],
        "TopicArn": notification["TopicArn"],
    }
    if notification["Subject"] is not None:
        body["Subject"] = notification["Subject"]
    body.update(
        {
            "Message": notification["Message"],
            "Timestamp": notification["Timestamp"],
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": "",
            "UnsubscribeURL": unsubscribe_url,
        }
    )
    if notification["MessageAttributes"]:
        body["MessageAttributes"] = dict(notification["MessageAttributes"])
    return body


def message_attributes_of(given: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """Publish's MessageAttributes ({name: {DataType, StringValue | BinaryValue}}, or a plain
    string for a String) as SNS delivers them: {name: {"Type", "Value"}}, a Binary value in
    base64. ConfigError names the attribute at fault."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ConfigError("message_attributes must be an object of name: {DataType, StringValue}")
    found: dict[str, dict[str, str]] = {}
    for name, value in given.items():
        if not isinstance(name, str) or not name or len(name) > 256:
            raise ConfigError(f"message attribute name {name!r} must be 1 to 256 characters")
        if isinstance(value, str):
            value = {"DataType": "String", "StringValue": value}
        if not isinstance(value, Mapping):
            raise ConfigError(f"message attribute {name!r} must be {{DataType, StringValue}}")
        kind = value.get("DataType")
        base = kind.split(".", 1)[0] if isinstance(kind, str) else None
        if kind not in _DATA_TYPES and base not in ("String", "Number", "Binary"):
            raise ConfigError(
                f"message attribute {name!r} has DataType {kind!r}; use one of {_DATA_TYPES}"
            )
        if base == "Binary":
            found[name] = {"Type": "Binary", "Value": _binary(name, value.get("BinaryValue"))}
            continue
        text = value.get("StringValue")
        if not isinstance(text, str):
            raise ConfigError(f"message attribute {name!r} needs a StringValue")
        if kind == "String.Array":
            _check_array(name, text)
        found[name] = {"Type": str(kind), "Value": text}
    return found


def _binary(name: str, value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ConfigError(f"message attribute {name!r}: BinaryValue is not base64") from None
        return value
    raise ConfigError(f"message attribute {name!r} needs a BinaryValue (base64)")


def _check_array(name: str, text: str) -> None:
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list):
        raise ConfigError(f"message attribute {name!r}: a String.Array value is a JSON array")
