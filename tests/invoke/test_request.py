"""The gateway's payload limits: Lambda's 6 MB for a synchronous request, refused with a 413."""

from __future__ import annotations

import pytest

from lambeam.errors import DataError, PayloadTooLargeError
from lambeam.invoke import MAX_PAYLOAD_BYTES, check_payload_size


def test_payloads_over_lambdas_six_megabytes_are_413() -> None:
    check_payload_size(MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLargeError) as caught:
        check_payload_size(MAX_PAYLOAD_BYTES + 1)
    error = caught.value
    assert error.http_status == 413 and isinstance(error, DataError)
    assert (error.size, error.limit) == (6 * 1024 * 1024 + 1, 6 * 1024 * 1024)
    assert str(6 * 1024 * 1024) in str(error)
    with pytest.raises(PayloadTooLargeError):
        check_payload_size(11, limit=10)
