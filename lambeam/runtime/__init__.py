"""The function runtime: code functions run in instances forked from a warm zygote.

    engine = Engine(state_dir, FileLogSink(state_dir / "logs"))
    await engine.start()
    spec = FunctionSpec(name="hello", handler="app.handler", code_dir=Path("src"))
    result = await engine.invoke(spec, b'{"name": "world"}')
    result.payload, result.function_error, result.log_tail
    await engine.stop()

The zygote has numpy, pandas, scikit-learn and ONNX Runtime imported; a cold start is a fork plus
loading the handler. Each instance serves one invocation at a time; timeouts, memory limits and
crashes kill only that instance, and the next invocation gets a fresh one.
"""

from lambeam.runtime.coldstart import ColdStarts, measure_cold_starts
from lambeam.runtime.context import LambdaContext
from lambeam.runtime.engine import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Engine
from lambeam.runtime.error_types import (
    FUNCTION_ERROR_UNHANDLED,
    RUNTIME_EXIT_ERROR,
    RUNTIME_HANDLER_NOT_FOUND,
    RUNTIME_IMPORT_MODULE_ERROR,
    RUNTIME_MALFORMED_HANDLER,
    RUNTIME_MARSHAL_ERROR,
    RUNTIME_OUT_OF_MEMORY,
    RUNTIME_UNMARSHAL_ERROR,
    RUNTIME_USER_CODE_SYNTAX_ERROR,
    SANDBOX_TIMEDOUT,
    TOO_MANY_REQUESTS,
    RuntimeUnavailableError,
    TooManyRequestsError,
)
from lambeam.runtime.logs import FileLogSink, LogSink
from lambeam.runtime.outcomes import InstanceInfo, InvocationResult
from lambeam.runtime.spec import (
    LATEST,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    FunctionSpec,
    function_arn,
)
from lambeam.runtime.zygote_client import DEFAULT_PRELOAD

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_PRELOAD",
    "DEFAULT_REGION",
    "FUNCTION_ERROR_UNHANDLED",
    "LATEST",
    "MAX_MEMORY_MB",
    "MAX_TIMEOUT_S",
    "MIN_MEMORY_MB",
    "MIN_TIMEOUT_S",
    "RUNTIME_EXIT_ERROR",
    "RUNTIME_HANDLER_NOT_FOUND",
    "RUNTIME_IMPORT_MODULE_ERROR",
    "RUNTIME_MALFORMED_HANDLER",
    "RUNTIME_MARSHAL_ERROR",
    "RUNTIME_OUT_OF_MEMORY",
    "RUNTIME_UNMARSHAL_ERROR",
    "RUNTIME_USER_CODE_SYNTAX_ERROR",
    "SANDBOX_TIMEDOUT",
    "TOO_MANY_REQUESTS",
    "ColdStarts",
    "Engine",
    "FileLogSink",
    "FunctionSpec",
    "InstanceInfo",
    "InvocationResult",
    "LambdaContext",
    "LogSink",
    "RuntimeUnavailableError",
    "TooManyRequestsError",
    "function_arn",
    "measure_cold_starts",
]
