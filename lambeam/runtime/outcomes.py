"""What an invocation returns, and Lambda's words for a killed or crashed instance."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

from lambeam.runtime import error_types as codes
from lambeam.runtime.process import Ended

__all__ = ["EndDescription", "InstanceInfo", "InvocationResult", "describe_end"]

# Lambda's runtime API is written in Go and names signals the way Go's os/exec does.
_SIGNAL_WORDS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
}


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs ~6x as much
class InvocationResult:
    """The outcome of one invocation.

    `payload` is the handler's JSON result, or Lambda's error document when `function_error` is
    set ("Unhandled", sent as X-Amz-Function-Error). `log_tail` is the invocation's whole log text
    (START … REPORT); the Lambda API sends its last 4 KB as X-Amz-Log-Result. `max_memory_mb`
    is the instance's peak memory beyond what it shares with the zygote (see limits.py), the
    figure its memory limit applies to. `init_ms` is set on a cold start only.
    """

    request_id: str
    payload: bytes
    function_error: str | None
    error_type: str | None
    log_tail: str
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_ms: float | None
    executed_version: str
    instance_pid: int | None

    def answering(
        self,
        request_id: str,
        payload: bytes,
        function_error: str | None = None,
        error_type: str | None = None,
    ) -> InvocationResult:
        """This result as one request of a micro-batch sees it: its own id and answer, and the
        rest (log, duration, memory, version) shared with the batch."""
        return InvocationResult(
            request_id,
            payload,
            function_error,
            error_type,
            self.log_tail,
            self.duration_ms,
            self.billed_ms,
            self.max_memory_mb,
            self.init_ms,
            self.executed_version,
            self.instance_pid,
        )


@dataclass(frozen=True)
class InstanceInfo:
    """A running instance, for listings and tests."""

    function_name: str
    version: str
    pid: int
    busy: bool
    invocations: int
    idle_since: float | None


@dataclass(frozen=True)
class EndDescription:
    """A runtime failure in Lambda's words: the error document, a log line, the REPORT status."""

    document: dict[str, Any]
    error_type: str
    notice: str
    status: str


def describe_end(end: Ended, request_id: str, timeout_s: float) -> EndDescription:
    """Lambda's wording for an instance that timed out, ran out of memory or exited."""
    if end.reason == "timeout":
        text = f"Task timed out after {timeout_s:.2f} seconds"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        return EndDescription(
            codes.error_payload(f"RequestId: {request_id} Error: {text}", codes.SANDBOX_TIMEDOUT),
            codes.SANDBOX_TIMEDOUT,
            f"{stamp}Z {request_id} {text}",
            "timeout",
        )
    if end.reason == "too_large":
        error_type = codes.FUNCTION_RESPONSE_TOO_LARGE
        text = (
            f"Response payload size ({end.reply_bytes} bytes) exceeded maximum allowed payload"
            " size; the instance was stopped before it was read"
        )
    elif end.reason == "memory":
        error_type, text = codes.RUNTIME_OUT_OF_MEMORY, "Runtime exited with error: signal: killed"
    else:
        error_type, text = codes.RUNTIME_EXIT_ERROR, _exit_words(end)
    message = f"RequestId: {request_id} Error: {text}"
    return EndDescription(
        codes.error_payload(message, error_type), error_type, f"{message}\n{error_type}", "error"
    )


def _exit_words(end: Ended) -> str:
    status = end.status
    if status is None:
        return "Runtime exited with error: unknown status"
    if status.signal is not None:
        try:
            word = _SIGNAL_WORDS.get(signal.Signals(status.signal)) or signal.strsignal(
                status.signal
            )
        except ValueError:
            word = None
        return f"Runtime exited with error: signal: {(word or str(status.signal)).lower()}"
    if status.exit_code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {status.exit_code}"
