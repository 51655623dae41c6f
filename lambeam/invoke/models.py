"""Model functions served in the gateway process: one runner per model version, one batcher each.

For now a model function's rows are predicted here, in the process that took the request, with
the runner `lambeam.inference.load_runner` picks (ONNX Runtime when the graph is trusted,
scikit-learn otherwise) and a `MicroBatcher` sized by the function's batching configuration.
Running the model inside a forked function instance (so that its memory limit, timeout and
reserved concurrency apply as they do to code functions) is the next step; until then those
limits are not enforced for model functions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambeam.functions import ResolvedFunction
from lambeam.inference import (
    InvalidInputError,
    MicroBatcher,
    ModelRunner,
    format_response,
    load_runner,
    parse_request,
)
from lambeam.registry import ModelVersion, get_model_version
from lambeam.storage import ArtifactStore, Database

__all__ = ["ModelServing"]


@dataclass
class _Served:
    """A loaded model version and the batcher in front of it, for one function's batching."""

    version: ModelVersion
    runner: ModelRunner
    batcher: MicroBatcher


class ModelServing:
    """Loads model versions once and answers predict requests for model functions.

    Runners are cached per model version (`churn:7`); batchers per function and model version,
    since batching is a function's setting.
    """

    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self._db = db
        self._store = store
        self._runners: dict[str, tuple[ModelVersion, ModelRunner]] = {}
        self._served: dict[tuple[str, str, int, int], _Served] = {}
        self._lock = asyncio.Lock()

    async def predict(self, function: ResolvedFunction, payload: bytes) -> tuple[bytes, str]:
        """The JSON answer to `payload` (`{"instances": …}` or `{"inputs": …}`) and the model ref.

        A request that does not fit the model's signature raises InvalidInputError naming the
        field (a 400 on every face).
        """
        served = await self._served_for(function)
        try:
            body = json.loads(payload) if payload.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"request body is not JSON: {exc}") from None
        request = parse_request(body, served.version.signature)
        predictions = await served.batcher.predict(request.frame)
        answer = format_response(
            predictions, request, model=served.runner.model, runner=served.runner.kind
        )
        return json.dumps(answer).encode(), served.version.ref

    async def forget(self, function_name: str) -> None:
        """Close the batchers of a function that was deleted or replaced."""
        for key in [k for k in self._served if k[0] == function_name]:
            await self._served.pop(key).batcher.aclose()

    async def aclose(self) -> None:
        """Close every batcher; queued requests fail."""
        served, self._served = self._served, {}
        for item in served.values():
            await item.batcher.aclose()

    async def _served_for(self, function: ResolvedFunction) -> _Served:
        if function.model is None:
            raise ValueError(f"function {function.name!r} is not a model function")
        # `churn@prod` on $LATEST is looked up on every call; `churn:7` once, then cached.
        ref = function.model
        if ref in self._runners:
            version, runner = self._runners[ref]
        else:
            version = await asyncio.to_thread(get_model_version, self._db, self._store, ref)
            version, runner = await self._runner(version)
        batching = function.config.batching
        key = (function.name, version.ref, batching.max_batch_size, batching.max_wait_ms)
        served = self._served.get(key)
        if served is None:
            served = self._served[key] = _Served(
                version,
                runner,
                MicroBatcher(
                    _predict_with_probabilities(runner),
                    max_batch_size=batching.max_batch_size,
                    max_wait_ms=batching.max_wait_ms,
                ),
            )
        return served

    async def _runner(self, version: ModelVersion) -> tuple[ModelVersion, ModelRunner]:
        async with self._lock:  # one load per version, however many requests arrive cold
            if version.ref not in self._runners:
                runner = await asyncio.to_thread(load_runner, version)
                self._runners[version.ref] = (version, runner)
            return self._runners[version.ref]


def _predict_with_probabilities(runner: ModelRunner) -> Callable[[Any], Any]:
    # A batch mixes requests that asked for probabilities with ones that did not; compute them
    # once for all, and format_response keeps them only where they were asked for.
    return lambda frame: runner.predict(frame, probabilities=True)
