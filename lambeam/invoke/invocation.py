"""The record of one invocation, whichever face or process it came through."""

from __future__ import annotations

import base64
from dataclasses import dataclass

__all__ = ["Invocation"]


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs ~6x as much
class Invocation:
    """What one invocation gave back, before any face words it.

    `status` is Lambda's: 200 (RequestResponse, even when the function failed: see
    `function_error`), 202 (Event, accepted) or 204 (DryRun, valid). `log_result_tail` is the
    last 4 KB of the log text, only when `log_type="Tail"` was asked on a synchronous invoke.
    """

    status: int
    payload: bytes
    function_error: str | None
    executed_version: str | None
    log_result_tail: str | None
    request_id: str
    error_type: str | None = None
    # What the runtime measured (None when nothing ran: an accepted Event, a DryRun, a call
    # answered by another process): the queue, destinations and metrics read them.
    duration_ms: float | None = None
    billed_ms: int | None = None
    max_memory_mb: int | None = None
    init_ms: float | None = None  # set on a cold start only

    @property
    def cold(self) -> bool:
        """Whether a new instance was started for this invocation."""
        return self.init_ms is not None

    @property
    def log_result(self) -> str | None:
        """Lambda's X-Amz-Log-Result: the tail's base64."""
        if self.log_result_tail is None:
            return None
        return base64.b64encode(self.log_result_tail.encode()).decode("ascii")
