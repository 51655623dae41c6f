"""Which records of a batch are done after its invocation, by Lambda's rules for
ReportBatchItemFailures (complete success, partial success, complete failure)."""

from __future__ import annotations

import pytest

from lambeam.events.consumer import batch_outcome
from lambeam.invoke import Invocation

IDS = ["m1", "m2", "m3"]


def _answer(payload: bytes, function_error: str | None = None) -> Invocation:
    return Invocation(200, payload, function_error, "$LATEST", None, "r1")


@pytest.mark.parametrize(
    "payload",
    [b"", b"null", b"{}", b'{"batchItemFailures": []}', b'{"batchItemFailures": null}'],
)
def test_an_empty_or_null_answer_is_complete_success(payload: bytes) -> None:
    assert batch_outcome(_answer(payload), IDS, report_failures=True) == IDS


def test_only_the_named_records_are_kept() -> None:
    payload = b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}'
    assert batch_outcome(_answer(payload), IDS, report_failures=True) == ["m1", "m3"]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'"done"',
        b'{"batchItemFailures": "m2"}',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"itemIdentifier": null}]}',
        b'{"batchItemFailures": [{"messageId": "m2"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": "m9"}]}',
    ],
)
def test_an_answer_lambda_cannot_read_fails_the_whole_batch(payload: bytes) -> None:
    assert batch_outcome(_answer(payload), IDS, report_failures=True) == []


def test_a_function_error_fails_the_whole_batch_and_without_reporting_any_answer_is_success() -> (
    None
):
    failed = _answer(b'{"errorMessage": "boom"}', function_error="Unhandled")
    assert batch_outcome(failed, IDS, report_failures=True) == []
    assert batch_outcome(failed, IDS, report_failures=False) == []
    partial = b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}'
    assert batch_outcome(_answer(partial), IDS, report_failures=False) == IDS
