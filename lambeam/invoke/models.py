"""Model functions: their requests run in forked instances, micro-batched on the way.

A model function version becomes a raw FunctionSpec whose code is the model version's serving
directory (`write_model_files`, model_files.py): the instance loads the runner at init (ONNX
Runtime when the graph is trusted, scikit-learn otherwise) and answers batches with
`lambeam.inference.BatchHandler`. So a model function has the same limits as a code function
(memory, timeout, reserved concurrency, warm minimum, keep-warm reaping) and the gateway never
holds a model.

With batching on (`max_batch_size` > 1), requests go through a `MicroBatcher` (batching.py): at
most one batch per core beyond the gateway's (`batches_in_flight`; the reserved concurrency, if
lower) runs at a time, and what arrives meanwhile forms the next batch, sent as one invocation. Each request keeps
its own request id, as in Lambda; the batch is one invocation with one log (START … REPORT under
the batch's id), whose BATCH line names the requests it answered. A request without an id takes
its batch's id with its place in the batch as the last four hex digits (unique, and a UUID still);
a batch of one request runs under that request's id, so START, END and REPORT carry it.
With batching off each request is its own invocation.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import TTLCache

from lambeam.functions import Batching, FunctionConfig, ResolvedFunction
from lambeam.inference import (
    FAILED,
    INVALID,
    InvalidInputError,
    decode_replies,
    encode_requests,
)
from lambeam.invoke.batching import MicroBatcher
from lambeam.invoke.model_files import HANDLER, write_model_files
from lambeam.registry import ModelVersion, get_model_version, parse_model_ref
from lambeam.runtime import FUNCTION_ERROR_UNHANDLED, Engine, FunctionSpec, InvocationResult
from lambeam.storage import ArtifactStore, Database

__all__ = ["LOOKUP_TTL_S", "ModelServing", "batches_in_flight", "spec_settings"]

# How long a `model@alias` lookup is reused: an alias moved elsewhere is served within this.
LOOKUP_TTL_S = 1.0


@dataclass(frozen=True)
class _Batching:
    spec: FunctionSpec
    settings: Batching
    batcher: MicroBatcher[tuple[bytes, str | None], InvocationResult]


class ModelServing:
    """Turns model function versions into runtime specs and invokes them, batched or not.

    `python_path` is what instances can import besides lambeam: the project's root, where the
    modules of a pipeline's custom steps live.
    """

    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        engine: Engine,
        cache_dir: Path,
        *,
        python_path: tuple[Path, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._store = store
        self._engine = engine
        self._cache_dir = cache_dir
        self._python_path = python_path
        self._pinned: dict[str, ModelVersion] = {}
        self._aliased: TTLCache[str, ModelVersion] = TTLCache(
            maxsize=1024, ttl=LOOKUP_TTL_S, timer=clock
        )
        self._batching: dict[str, _Batching] = {}

    async def invoke(
        self,
        function: ResolvedFunction,
        spec: FunctionSpec,
        payload: bytes,
        request_id: str | None = None,
    ) -> InvocationResult:
        """Run one request of a model function version (`spec`, see `model_spec`);
        InvalidInputError when it does not fit.

        None: the runtime makes a request id (or the batcher does, from its batch's).
        """
        batching = function.config.batching
        if not batching.enabled:
            result = await self._engine.invoke(
                spec, encode_requests([payload]), request_id, function.qualifier
            )
            outcome = _split(result, [result.request_id])[0]
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        key = f"{function.name}\0{function.qualifier}"
        current = self._batching.get(key)
        if current is None or current.spec is not spec or current.settings is not batching:
            if current is not None and current.spec == spec and current.settings == batching:
                # The same in other objects (read afresh): matched by identity from now on.
                current = _Batching(spec, batching, current.batcher)
            else:
                if current is not None:
                    current.batcher.retire()  # its queued requests still run, as batched
                current = _Batching(
                    spec,
                    batching,
                    MicroBatcher(
                        self._batch_runner(spec, function.qualifier),
                        max_batch_size=batching.max_batch_size,
                        max_wait_ms=batching.max_wait_ms,
                        max_in_flight=batches_in_flight(spec.reserved_concurrency),
                    ),
                )
            self._batching[key] = current
        return await current.batcher.submit((payload, request_id))

    def model_spec(self, function: ResolvedFunction, version: ModelVersion) -> FunctionSpec:
        """The runtime spec of a model function version serving `version` (its serving files
        are written once, on disk; this may read the artifact store)."""
        return FunctionSpec(
            name=function.name,
            handler=HANDLER,
            code_dir=write_model_files(version, self._cache_dir / "models"),
            version=function.version,
            raw=True,
            python_path=self._python_path,
            **spec_settings(function.config),
        )

    async def forget(self, function_name: str) -> None:
        """Close the batchers of a function that was deleted or replaced."""
        for key in [k for k in self._batching if k.split("\0")[0] == function_name]:
            await self._batching.pop(key).batcher.aclose()

    async def aclose(self) -> None:
        """Close every batcher; queued requests fail."""
        batching, self._batching = self._batching, {}
        for item in batching.values():
            await item.batcher.aclose()

    def known_version(self, ref: str) -> ModelVersion | None:
        """What `version(ref)` would return without reading anything, if it is fresh; else None."""
        found = self._pinned.get(ref)
        if found is not None:
            return found
        try:  # one lookup, where TTLCache.get makes two (`in`, then `[]`): every request asks
            return self._aliased[ref]
        except KeyError:
            return None

    async def version(self, ref: str) -> ModelVersion:
        """The model version `ref` names: `name:N` read once, `name@alias` at most every second."""
        found = self.known_version(ref)
        if found is not None:
            return found
        version = await asyncio.to_thread(get_model_version, self._db, self._store, ref)
        if parse_model_ref(ref).number is not None:
            self._pinned[ref] = version  # a numbered version never changes
        else:
            self._aliased[ref] = version
        return version

    def _batch_runner(
        self, spec: FunctionSpec, qualifier: str | None
    ) -> Callable[[list[tuple[bytes, str | None]]], Any]:
        async def run(
            requests: list[tuple[bytes, str | None]],
        ) -> Sequence[InvocationResult | BaseException]:
            if len(requests) == 1:  # a batch of one is that request's invocation, by its id
                batch_id = requests[0][1] or str(uuid.uuid4())
                ids = [batch_id]
            else:
                batch_id = str(uuid.uuid4())
                ids = [given or f"{batch_id[:32]}{n:04x}" for n, (_, given) in enumerate(requests)]
            payload = encode_requests([body for body, _ in requests])
            result = await self._engine.invoke(spec, payload, batch_id, qualifier, batch=ids)
            return _split(result, ids)

        return run


def batches_in_flight(reserved_concurrency: int | None, cores: int | None = None) -> int:
    """How many of a model function's batches run at once: one per core the gateway leaves free
    (at least one), and never more than the function's reserved concurrency.

    Predicting is CPU-bound and an instance runs one batch at a time, so batches beyond the cores
    only split the work into smaller batches; and the gateway, one process that parses every
    request and writes every answer, needs a core of its own. On two cores one batch at a time
    answered about 10% more requests per second than two (bench/serve.py, LR and RF alike).
    `cores` defaults to the CPUs this process may run on.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    slots = max(1, (cores or 1) - 1)
    if reserved_concurrency is not None:
        return max(1, min(slots, reserved_concurrency))
    return slots


def spec_settings(config: FunctionConfig) -> dict[str, Any]:
    """A function configuration's limits and environment, as FunctionSpec takes them."""
    return {
        "memory_mb": config.memory_mb,
        "timeout_s": float(config.timeout_s),
        "reserved_concurrency": config.reserved_concurrency,
        "warm_minimum": config.warm_minimum,
        "environment": config.environment,
        "description": config.description,
    }


def _split(result: InvocationResult, ids: list[str]) -> list[InvocationResult | BaseException]:
    """Each request's part of a batch invocation's result, under its own id (`ids`, in order).

    A failure of the whole invocation (a timeout, memory, a crash) is every request's failure,
    its errorMessage (`RequestId: … Error: …`) naming the request's own id, not the batch's.
    """
    if result.function_error is not None:
        error, kind = result.function_error, result.error_type
        named = f"RequestId: {result.request_id} ".encode()
        return [
            result.answering(
                rid, result.payload.replace(named, f"RequestId: {rid} ".encode(), 1), error, kind
            )
            for rid in ids
        ]
    replies = decode_replies(result.payload)
    if len(replies) != len(ids):
        raise RuntimeError(f"a batch of {len(ids)} requests came back with {len(replies)} answers")
    outcomes: list[InvocationResult | BaseException] = []
    for rid, (status, body) in zip(ids, replies, strict=True):
        if status == INVALID:
            doc = json.loads(body)
            outcomes.append(
                InvalidInputError(doc["errorMessage"], field=doc.get("field"), row=doc.get("row"))
            )
        elif status == FAILED:
            error_type = json.loads(body).get("errorType")
            outcomes.append(result.answering(rid, body, FUNCTION_ERROR_UNHANDLED, error_type))
        else:
            outcomes.append(result.answering(rid, body))
    return outcomes
