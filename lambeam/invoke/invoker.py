"""The one invocation core every face calls: REST, the Lambda API, the CLI (and later the queue).

    invoker = Invoker(project, engine)
    result = await invoker.invoke("hello", b'{"name": "world"}', qualifier="prod")
    result.status, result.payload, result.function_error, result.executed_version

Like MLServer's DataPlane, it knows nothing of a wire: it resolves the function version
(`lambeam.functions.Resolver`, weighted aliases included; what it read is reused for a second),
unpacks its code bundle and installed requirements (or writes its model's serving files) into
`<state>/functions/`, and runs it in the runtime engine, micro-batched for model functions (see
models.py). Faces translate the Invocation and the errors raised here into their own wire form.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Callable
from pathlib import Path

from lambeam.functions import (
    FunctionConfig,
    FunctionInfo,
    ResolvedFunction,
    Resolver,
    list_functions,
    list_versions,
    materialize,
)
from lambeam.invoke.errors import (
    InvalidInvocationError,
    InvalidPayloadError,
    RequestTooLargeError,
)
from lambeam.invoke.invocation import Invocation
from lambeam.invoke.models import ModelServing, spec_settings
from lambeam.invoke.request import (
    INVOCATION_TYPES,
    MAX_EVENT_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    EventSink,
    InvocationRequest,
)
from lambeam.project import Project
from lambeam.runtime import FUNCTION_ERROR_UNHANDLED, Engine, FunctionSpec

__all__ = [
    "LOG_TAIL_BYTES",
    "MAX_PAYLOAD_BYTES",
    "RESPONSE_TOO_LARGE",
    "Invoker",
    "check_invoke_size",
    "check_json",
]

_log = logging.getLogger(__name__)

LOG_TAIL_BYTES = 4096  # Lambda's X-Amz-Log-Result: the last 4 KB of the invocation's log
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"


class Invoker:
    """Resolves, prepares and runs function versions: the transport-independent core.

    `rng` picks an alias's weighted version (inject a seeded one for repeatable routing).
    `engine` must be started by whoever owns it (the server's lifespan, the CLI command).
    `events` takes Event invocations (the durable queue); without it they are refused.
    """

    def __init__(
        self,
        project: Project,
        engine: Engine,
        *,
        cache_dir: Path | None = None,
        rng: Callable[[], float] = random.random,
        events: EventSink | None = None,
    ) -> None:
        self.project = project
        self.events = events
        self.engine = engine
        self.cache_dir = cache_dir or project.settings.state_dir / "functions"
        self._resolver = Resolver(project.db, rng=rng)
        self._specs: dict[tuple[str, str, str | None], tuple[FunctionConfig, FunctionSpec]] = {}
        self._models = ModelServing(
            project.db,
            project.store,
            engine,
            self.cache_dir,
            python_path=(project.settings.root,),
        )

    async def invoke(
        self,
        function_name: str,
        payload: bytes,
        qualifier: str | None = None,
        invocation_type: str = "RequestResponse",
        log_type: str | None = None,
    ) -> Invocation:
        """`handle` of an InvocationRequest made of these arguments (see there)."""
        return await self.handle(
            InvocationRequest(function_name, payload, qualifier, invocation_type, log_type)
        )

    async def handle(self, request: InvocationRequest) -> Invocation:
        """Invoke `request.function` (at its qualifier: None/$LATEST, a version, an alias).

        DryRun checks the function, qualifier and payload and runs nothing (204). Event is
        committed to the durable queue (`events`) and accepted (202); the queue's dispatcher
        runs it, retries it and sends it to its destinations. Raises the functions service's errors (not found,
        bad qualifier), RequestTooLargeError, InvalidInputError for a model function's bad
        request, and TooManyRequestsError when throttled; a failure inside the function is an
        Invocation with `function_error` set, as in Lambda.
        """
        invocation_type, log_type, payload = (
            request.invocation_type,
            request.log_type,
            request.payload,
        )
        if invocation_type not in INVOCATION_TYPES:
            raise InvalidInvocationError(
                f"invocation type must be one of {', '.join(INVOCATION_TYPES)},"
                f" got {invocation_type!r}"
            )
        if log_type not in (None, "None", "Tail"):
            raise InvalidInvocationError(f"log type must be None or Tail, got {log_type!r}")
        check_invoke_size(len(payload), invocation_type)
        function = self._resolver.cached(request.function, request.qualifier)
        if function is None:
            function = await asyncio.to_thread(
                self._resolver.resolve, request.function, request.qualifier
            )
        if function.kind != "model":  # a model function's instance checks its own requests
            await _check_json(payload)
        if invocation_type == "DryRun":
            return Invocation(204, b"", None, function.version, None, str(uuid.uuid4()))
        if invocation_type == "Event":
            if self.events is None:
                raise InvalidInvocationError(
                    "Event invocations need the event queue; invoke through `lambeam server`"
                )
            request.request_id = request.request_id or str(uuid.uuid4())
            request_id = await self.events.accept(request)
            return Invocation(202, b"", None, function.version, None, request_id)
        # The runtime names the invocation (the batcher a batched request, from its batch's id).
        return await self._run(function, payload, request.request_id, tail=log_type == "Tail")

    async def warm_up(self) -> int:
        """Start the warm minimum of every code function version that has one; how many run.

        The engine's reaper keeps them at that minimum afterwards.
        """
        versions = await asyncio.to_thread(self._warm_versions)
        running = 0
        for info in versions:
            function = ResolvedFunction(
                name=info.name,
                version=info.version,
                alias=None,
                config=info.config,
                code_sha256=info.code_sha256,
                model=info.model,
            )
            running += await self.engine.ensure_warm(await self._spec(function))
        return running

    def _warm_versions(self) -> list[FunctionInfo]:
        db = self.project.db
        return [
            info
            for function in list_functions(db)
            for info in list_versions(db, function.name)
            if info.config.warm_minimum > 0
        ]

    def forget(self, function_name: str) -> None:
        """Drop what was read about a function, so a change made to it applies at once."""
        self._resolver.forget(function_name)

    async def function_changed(self, function_name: str) -> None:
        """Let go of a deleted or replaced function's instances, batchers and cached lookups."""
        self._resolver.forget(function_name)
        for key in [k for k in self._specs if k[0] == function_name]:
            del self._specs[key]
        await self.engine.scale_to_zero(function_name)
        await self._models.forget(function_name)

    async def aclose(self) -> None:
        """Close the model functions' batchers."""
        await self._models.aclose()

    async def _run(
        self, function: ResolvedFunction, payload: bytes, request_id: str | None, tail: bool
    ) -> Invocation:
        spec = self._known_spec(function) or await self._spec(function)
        if function.kind == "model":
            result = await self._models.invoke(function, spec, payload, request_id)
        else:
            result = await self.engine.invoke(
                spec,
                payload,
                request_id=request_id,
                qualifier=function.qualifier,
            )
        tail_text = None
        if tail:
            tail_text = result.log_tail.encode()[-LOG_TAIL_BYTES:].decode(errors="ignore")
        return self._checked(
            Invocation(
                200,
                result.payload,
                result.function_error,
                result.executed_version,
                tail_text,
                result.request_id,
                result.error_type,
                duration_ms=result.duration_ms,
                billed_ms=result.billed_ms,
                max_memory_mb=result.max_memory_mb,
                init_ms=result.init_ms,
            )
        )

    async def _spec(self, function: ResolvedFunction) -> FunctionSpec:
        """The runtime spec of a code or model function version, built once per content: its
        code (or the model version it serves, `model@alias` looked up at most every second)
        and its configuration."""
        known = self._known_spec(function)  # every call but the first: no coroutine below
        if known is not None:
            return known
        version = None
        if function.model is not None:
            version = await self._models.version(function.model)
        content = version.ref if version is not None else function.code_sha256
        key = (function.name, function.version, content)
        if version is not None:
            spec = await asyncio.to_thread(self._models.model_spec, function, version)
        else:
            spec = await asyncio.to_thread(self.function_spec, function)
        # Callers that missed together each built one: all keep the first stored, so that later
        # calls match it by identity (in the batcher and the pool) instead of comparing fields.
        stored = self._specs.get(key)
        if stored is not None and stored[1] == spec:
            self._specs[key] = (function.config, stored[1])  # a config its spec does not show
            return stored[1]
        self._specs[key] = (function.config, spec)
        return spec

    def _known_spec(self, function: ResolvedFunction) -> FunctionSpec | None:
        """The spec `_spec` built for `function` before, if its content and configuration are
        still what it was built for (without reading anything); else None."""
        if function.model is not None:
            version = self._models.known_version(function.model)
            if version is None:
                return None
            content: str | None = version.ref
        else:
            content = function.code_sha256
        key = (function.name, function.version, content)
        cached = self._specs.get(key)
        if cached is None:
            return None
        if cached[0] is function.config:
            return cached[1]
        if cached[0] == function.config:  # read afresh, unchanged: compare once, not per call
            self._specs[key] = (function.config, cached[1])
            return cached[1]
        return None

    def function_spec(self, function: ResolvedFunction) -> FunctionSpec:
        """The runtime's spec for a resolved code function, its bundle unpacked (once) on disk."""
        handler = function.config.handler
        if function.code_sha256 is None or handler is None:
            raise ValueError(f"function {function.name!r} is not a code function")
        store = self.project.store
        code_dir = materialize(store, function.code_sha256, self.cache_dir / "code")
        requirements = function.config.requirements_sha256
        requirements_dir = (
            materialize(store, requirements, self.cache_dir / "requirements")
            if requirements is not None
            else None
        )
        return FunctionSpec(
            name=function.name,
            handler=handler,
            code_dir=code_dir,
            version=function.version,
            requirements_dir=requirements_dir,
            **spec_settings(function.config),
        )

    def _checked(self, invocation: Invocation) -> Invocation:
        """Lambda's answer to a response over 6 MB: a function error in place of the payload."""
        if len(invocation.payload) <= MAX_PAYLOAD_BYTES:
            return invocation
        error = {
            "errorMessage": (
                f"Response payload size ({len(invocation.payload)} bytes) exceeded maximum"
                f" allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
            ),
            "errorType": RESPONSE_TOO_LARGE,
        }
        return Invocation(
            invocation.status,
            json.dumps(error).encode(),
            FUNCTION_ERROR_UNHANDLED,
            invocation.executed_version,
            invocation.log_result_tail,
            invocation.request_id,
            RESPONSE_TOO_LARGE,
            duration_ms=invocation.duration_ms,
            billed_ms=invocation.billed_ms,
            max_memory_mb=invocation.max_memory_mb,
            init_ms=invocation.init_ms,
        )


# A payload past this is parsed in a thread, so that the event loop serves others meanwhile.
_PARSE_INLINE_BYTES = 256 * 1024


def check_invoke_size(nbytes: int, invocation_type: str = "RequestResponse") -> None:
    """RequestTooLargeError past Lambda's limit for the invocation type (6 MB; 1 MiB Event)."""
    limit = MAX_EVENT_PAYLOAD_BYTES if invocation_type == "Event" else MAX_PAYLOAD_BYTES
    if nbytes > limit:
        raise RequestTooLargeError(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
            size=nbytes,
            limit=limit,
        )


def check_json(payload: bytes) -> None:
    """InvalidPayloadError unless `payload` is JSON (or empty: the event is then `{}`), by the
    rules the instance will read it with (the standard library's, NaN and Infinity included)."""
    if not payload.strip():
        return
    try:
        json.loads(payload)
    except ValueError as exc:  # not JSON, not UTF-8, or an integer past Python's digit limit
        raise InvalidPayloadError(f"Could not parse request body into json: {exc}") from None
    except RecursionError:
        raise InvalidPayloadError(
            "Could not parse request body into json: it is nested too deeply"
        ) from None


async def _check_json(payload: bytes) -> None:
    """check_json, in a thread for a large payload (the event loop serves others meanwhile)."""
    if len(payload) <= _PARSE_INLINE_BYTES:
        check_json(payload)
    else:
        await asyncio.to_thread(check_json, payload)
