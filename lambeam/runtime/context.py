"""The `context` object handed to a handler, with the fields of Lambda's Python runtime."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LambdaContext"]


class LambdaContext:
    """What a handler knows about its invocation and function (awslambdaric's LambdaContext).

    As on Lambda, `memory_limit_in_mb` is a string and `identity`/`client_context` are None unless
    a mobile client sent them.
    """

    def __init__(
        self,
        *,
        aws_request_id: str,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: int,
        log_group_name: str,
        log_stream_name: str,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline = deadline
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the engine kills this invocation."""
        return max(0, int((self._deadline - self._clock()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, function_version={self.function_version!r})"
        )
