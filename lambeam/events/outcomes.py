"""How an attempt of an asynchronous invocation ended, as what to settle: its `invocations`
row, its message's fate and the records its destinations get (Lambda's rules: see
lambeam.events.dispatcher)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from lambeam.errors import LambeamError
from lambeam.events.destinations import (
    ERROR_MESSAGE_BYTES,
    Outcome,
    dead_letter_message,
    first_bytes,
    invocation_record,
)
from lambeam.events.invoke_config import EventInvokeConfig
from lambeam.events.queue import Message
from lambeam.events.settlements import Delivery, Settlement
from lambeam.functions.records import ResolvedFunction
from lambeam.runtime import function_arn

__all__ = [
    "Claim",
    "dropped",
    "error_of",
    "failed",
    "jitter",
    "outcome_of",
    "refused",
    "row_of",
    "succeeded",
    "throttle_entry",
    "throttled",
]

# Lambda's throttle backoff for asynchronous events: from 1 second up to 5 minutes.
THROTTLE_BACKOFF_S = (1.0, 300.0)


@dataclass
class Claim:
    """A claimed message and what is known of its invocation so far."""

    message: Message
    lease_until: float
    attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def succeeded(
    claim: Claim,
    function: ResolvedFunction,
    settings: EventInvokeConfig,
    outcome: Outcome,
    payload: bytes,
    *,
    region: str,
    account_id: str,
) -> Settlement:
    """A success: the row, and the record for the OnSuccess destination."""
    row = row_of(claim, "succeeded", outcome.at, outcome, None, result=payload)
    settlement = Settlement(claim.message.receipt, final=True, row=row)
    if settings.on_success:
        arn = _arn(function, outcome.executed_version, region, account_id)
        record = invocation_record(outcome, condition="Success", function_arn=arn)
        target = settings.on_success
        settlement.sends.append(Delivery(target, record, target.arn(region, account_id)))
    return settlement


def failed(
    claim: Claim,
    function: ResolvedFunction,
    settings: EventInvokeConfig,
    condition: str,
    now: float,
    status_code: int = 200,
    *,
    outcome: Outcome | None = None,
    region: str,
    account_id: str,
) -> Settlement:
    """A failure (`condition`): the row, and the record for OnFailure, or the event for the
    dead-letter queue (also the fallback when OnFailure refuses the record). Without
    `outcome` (nothing ran, or too late) it is made from the history; `status_code` is then
    the last attempt's (200 it ran, 429 throttled, a 4xx the invocation was refused)."""
    last = claim.history[-1] if claim.history else {}
    if outcome is None:
        error = {
            "errorMessage": last.get("error_message") or _CONDITION_MESSAGES[condition],
            "errorType": last.get("error_type") or condition,
        }
        outcome = Outcome(
            request_id=claim.message.id,
            request_payload=claim.message.body,
            status_code=status_code,
            executed_version=last.get("executed_version") or function.version,
            function_error="Unhandled" if status_code == 200 else None,
            response_payload=json.dumps(error).encode(),
            invoke_count=max(1, claim.attempts),
            at=now,
        )
    error_type = last.get("error_type") or condition
    row = row_of(claim, "failed", now, outcome, error_type, result=outcome.response_payload)
    settlement = Settlement(claim.message.receipt, final=True, row=row)
    dead_letter = None
    if settings.dead_letter is not None:
        message = last.get("error_message") or _CONDITION_MESSAGES[condition]
        dead_letter = Delivery(
            settings.dead_letter,
            dead_letter_message(outcome, error_type, message),
            settings.dead_letter.arn(region, account_id),
        )
    if settings.on_failure:
        arn = _arn(function, outcome.executed_version, region, account_id)
        record = invocation_record(outcome, condition=condition, function_arn=arn)
        target = settings.on_failure
        settlement.sends.append(Delivery(target, record, target.arn(region, account_id)))
        settlement.fallback = dead_letter
    elif dead_letter is not None:
        settlement.sends.append(dead_letter)
    return settlement


def refused(
    claim: Claim,
    function: ResolvedFunction,
    settings: EventInvokeConfig,
    error: LambeamError,
    started: float,
    now: float,
    *,
    region: str,
    account_id: str,
) -> Settlement:
    """An attempt the invocation core refused for good (a 4xx error: a payload too large or
    not JSON, a model function's invalid input): one attempt, then failed, with the error's
    Lambda type; no retry could change it."""
    claim.attempts += 1
    claim.history.append(
        {
            "attempt": claim.attempts,
            "started_at": started,
            "duration_ms": round((now - started) * 1000, 3),
            "executed_version": function.version,
            "status": "error",
            "log_tail": "",
            "error_type": error.lambda_error,
            "error_message": first_bytes(error.message, ERROR_MESSAGE_BYTES),
        }
    )
    return failed(
        claim,
        function,
        settings,
        "RetriesExhausted",
        now,
        error.http_status,
        region=region,
        account_id=account_id,
    )


def dropped(claim: Claim, error_type: str, message: str, now: float) -> Settlement:
    """An event whose function is gone: failed, with no attempt and no destination."""
    claim.history.append(
        {"attempt": claim.attempts + 1, "started_at": now, "status": "dropped",
         "error_type": error_type, "error_message": message}
    )  # fmt: skip
    row = {
        "status": "failed",
        "attempts": claim.attempts,
        "updated_at": now,
        "executed_version": None,
        "error_type": error_type,
        "result": None,
        "history": claim.history,
        "destination": None,
    }
    return Settlement(claim.message.receipt, final=True, row=row)


def row_of(
    claim: Claim,
    status: str,
    now: float,
    outcome: Outcome,
    error_type: str | None,
    *,
    result: bytes | None = None,
) -> dict[str, Any]:
    """The values an attempt writes to its `invocations` row."""
    return {
        "status": status,
        "attempts": claim.attempts,
        "updated_at": now,
        "executed_version": outcome.executed_version,
        "error_type": error_type,
        "result": result,
        "history": claim.history,
        "destination": None,
    }


def _arn(function: ResolvedFunction, executed: str | None, region: str, account_id: str) -> str:
    """The function's ARN qualified as it executed (Lambda's requestContext.functionArn)."""
    return function_arn(function.name, region, account_id, executed or function.version)


_CONDITION_MESSAGES = {
    "RetriesExhausted": "Rate Exceeded.",
    "EventAgeExceeded": "The event was older than the function's maximum event age.",
}


def outcome_of(message: Message, attempts: int, now: float, invocation: Any) -> Outcome:
    """The Outcome a destination record tells of an attempt that ran."""
    return Outcome(
        request_id=message.id,
        request_payload=message.body,
        status_code=invocation.status,
        executed_version=invocation.executed_version,
        function_error=invocation.function_error,
        response_payload=invocation.payload,
        invoke_count=attempts,
        at=now,
    )


def error_of(payload: bytes, error_type: str | None) -> tuple[str | None, str]:
    """The error type and message (its first 1 KiB of UTF-8, as Lambda's ErrorMessage) of a
    failed attempt's payload (Lambda's error object)."""
    try:
        error = json.loads(payload)
    except ValueError:
        text = payload[:ERROR_MESSAGE_BYTES].decode(errors="ignore")
        return error_type, first_bytes(text, ERROR_MESSAGE_BYTES)
    if not isinstance(error, dict):
        return error_type, first_bytes(str(error), ERROR_MESSAGE_BYTES)
    return (
        error.get("errorType") or error_type,
        first_bytes(str(error.get("errorMessage", "")), ERROR_MESSAGE_BYTES),
    )


def throttle_entry(at: float, message: str) -> dict[str, Any]:
    """The history entry of a throttled attempt (not counted as one)."""
    return {
        "started_at": at,
        "status": "throttled",
        "error_type": "TooManyRequestsException",
        "error_message": message,
    }


def throttled(claim: Claim) -> Settlement:
    """A throttled attempt: back to the queue after Lambda's backoff (doubling from 1 s up to
    5 minutes); not an attempt."""
    # Receives that ran no attempt were throttles (or waits for reserved concurrency).
    throttles = max(1, claim.message.receive_count - claim.attempts)
    low, high = THROTTLE_BACKOFF_S
    delay = min(high, low * 2 ** max(0, throttles - 1))
    return Settlement(claim.message.receipt, final=False, delay_s=jitter(delay))


def jitter(delay_s: float) -> float:
    """`delay_s` give or take a tenth, so that events throttled together do not return together."""
    return delay_s * random.uniform(0.9, 1.1)
