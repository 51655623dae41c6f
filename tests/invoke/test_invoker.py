"""The invocation core on a real engine: resolve, unpack, run; DryRun, Event, limits, models."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

from lambeam.events.service import EventService
from lambeam.functions import (
    Batching,
    CodeBundle,
    FunctionConfig,
    FunctionNotFoundError,
    create_alias,
    create_function,
    publish_version,
    update_function_code,
    update_function_configuration,
)
from lambeam.inference import InvalidInputError
from lambeam.invoke import (
    MAX_PAYLOAD_BYTES,
    Invocation,
    InvocationRequest,
    Invoker,
    RequestTooLargeError,
)
from lambeam.invoke.models import batches_in_flight
from lambeam.project import Project
from lambeam.registry import ModelVersion
from lambeam.runtime import Engine, FileLogSink
from tests.conftest import make_project
from tests.inference.conftest import CLASSIFIER_OUTPUTS, HELD_OUT, TRAIN, instances
from tests.registry.fitted import class_labels, fitted, register, signature
from tests.runtime.conftest import LoopThread

APP = """\
import os

def handler(event, context):
    print("hello from", context.function_version)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("big"):
        return "x" * event["big"]
    return {"echo": event, "version": context.function_version, "v": os.environ.get("VV")}
"""


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LoopThread, Project, Invoker]]:
    root = Path(tmp_path_factory.mktemp("invoke")) / "proj"
    project = make_project(root)
    loop = LoopThread()
    engine = Engine(root / ".lambeam", FileLogSink(root / ".lambeam" / "logs"))
    loop.run(engine.start(), timeout=180)
    invoker = Invoker(project, engine)
    # Event invocations go through the durable queue, run by the events service's dispatcher.
    invoker.events = events = EventService(project, invoker)
    running = asyncio.run_coroutine_threadsafe(events.run(), loop.loop)
    yield loop, project, invoker
    running.cancel()
    loop.run(events.aclose())
    loop.run(invoker.aclose())
    loop.run(engine.stop())
    loop.close()
    project.close()


def _code(tmp: Path, source: str = APP) -> CodeBundle:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "app.py").write_text(source)
    return CodeBundle.from_directory(tmp)


def _create(project: Project, name: str, tmp: Path, **config: object) -> None:
    create_function(
        project.db,
        project.store,
        name,
        FunctionConfig(kind="code", handler="app.handler", **config),  # type: ignore[arg-type]
        code=_code(tmp),
    )


def test_a_code_function_round_trips_its_payload_with_a_tail_log(setup, tmp_path: Path) -> None:
    loop, project, invoker = setup
    _create(project, "echo", tmp_path / "code", environment={"VV": "one"})
    got = loop.run(invoker.invoke("echo", b'{"a": 1}', log_type="Tail"))
    assert got.status == 200 and got.function_error is None
    assert json.loads(got.payload) == {"echo": {"a": 1}, "version": "$LATEST", "v": "one"}
    assert got.executed_version == "$LATEST"
    assert got.log_result_tail is not None
    for word in ("START RequestId", "hello from $LATEST", "END RequestId", "REPORT RequestId"):
        assert word in got.log_result_tail
    assert got.request_id in got.log_result_tail

    failed = loop.run(invoker.invoke("echo", b'{"fail": true}'))
    assert failed.status == 200 and failed.function_error == "Unhandled"
    error = json.loads(failed.payload)
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"
    assert failed.log_result_tail is None


def test_versions_aliases_and_an_updated_latest_run_their_own_code(setup, tmp_path: Path) -> None:
    loop, project, invoker = setup
    _create(project, "versioned", tmp_path / "one")
    publish_version(project.db, project.store, "versioned")
    update_function_code(
        project.db,
        project.store,
        "versioned",
        code=_code(tmp_path / "two", APP.replace('"echo"', '"second"')),
    )
    create_alias(project.db, "versioned", "prod", "1")
    by_alias = loop.run(invoker.invoke("versioned", b"{}", qualifier="prod"))
    assert by_alias.executed_version == "1"
    assert json.loads(by_alias.payload)["echo"] == {}
    latest = loop.run(invoker.invoke("versioned", b"{}"))
    assert latest.executed_version == "$LATEST" and "second" in json.loads(latest.payload)


def test_dry_run_and_event_and_the_limits(setup, tmp_path: Path) -> None:
    loop, project, invoker = setup
    _create(project, "events", tmp_path / "code")
    dry = loop.run(invoker.invoke("events", b'{"never": "run"}', invocation_type="DryRun"))
    assert (dry.status, dry.payload) == (204, b"")
    with pytest.raises(FunctionNotFoundError):
        loop.run(invoker.invoke("missing", b"{}", invocation_type="DryRun"))

    event = loop.run(invoker.invoke("events", b'{"queued": 1}', invocation_type="Event"))
    assert (event.status, event.payload) == (202, b"")
    log = FileLogSink(project.settings.state_dir / "logs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = "".join(log.read("events"))
        if f"END RequestId: {event.request_id}" in text:
            break
        time.sleep(0.05)
    assert f"END RequestId: {event.request_id}" in text

    with pytest.raises(RequestTooLargeError):
        loop.run(invoker.invoke("events", b"x" * (MAX_PAYLOAD_BYTES + 1)))
    big = loop.run(invoker.invoke("events", json.dumps({"big": MAX_PAYLOAD_BYTES}).encode()))
    assert big.function_error == "Unhandled"
    assert json.loads(big.payload)["errorType"] == "Function.ResponseSizeTooLarge"


def _logistic(project: Project, model: str) -> ModelVersion:
    """A logistic regression registered as `model`:1, its ONNX graph checked."""
    pipeline = fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN))
    return register(
        project.db,
        project.store,
        pipeline,
        model=model,
        task="classification",
        sample=HELD_OUT,
        sig=signature(CLASSIFIER_OUTPUTS),
    )


def test_a_model_function_predicts_what_the_registry_model_predicts(setup) -> None:
    loop, project, invoker = setup
    version = _logistic(project, "churn")
    create_function(
        project.db,
        project.store,
        "churn-api",
        FunctionConfig(kind="model", batching=Batching(max_batch_size=8, max_wait_ms=2)),
        model="churn:1",
    )
    rows = HELD_OUT.head(5)
    body = json.dumps({"instances": instances(rows)}).encode()
    got = loop.run(invoker.invoke("churn-api", body))
    answer = json.loads(got.payload)
    assert answer["predictions"] == version.load().predict(rows).tolist()
    assert answer["model"] == "churn:1"
    row = {"amount": 1, "age": 2, "city": "oslo", "zip": 1}
    with pytest.raises(InvalidInputError) as refused:
        loop.run(invoker.invoke("churn-api", json.dumps({"instances": [row]}).encode()))
    assert refused.value.field == "zip"


def test_warm_up_starts_each_code_functions_warm_minimum(setup, tmp_path: Path) -> None:
    loop, project, invoker = setup
    _create(project, "kept-warm", tmp_path / "code", warm_minimum=1, reserved_concurrency=2)
    assert loop.run(invoker.warm_up()) >= 1
    running = invoker.engine.instances("kept-warm")
    assert len(running) == 1 and not running[0].busy and running[0].version == "$LATEST"
    loop.run(invoker.function_changed("kept-warm"))
    assert invoker.engine.instances("kept-warm") == []


def test_a_model_function_runs_in_its_own_instance_and_batches_its_requests(setup) -> None:
    loop, project, invoker = setup
    version = _logistic(project, "churn-batched")
    create_function(
        project.db,
        project.store,
        "batched",
        FunctionConfig(kind="model", batching=Batching(max_batch_size=64, max_wait_ms=20)),
        model=version.ref,
    )
    rows = [HELD_OUT.iloc[i : i + 1] for i in range(40)]
    bodies = [json.dumps({"instances": instances(row)}).encode() for row in rows]

    async def together() -> list[Invocation]:
        return await asyncio.gather(*(invoker.invoke("batched", body) for body in bodies))

    answers = loop.run(together())
    expected = version.load().predict(HELD_OUT.head(40)).tolist()
    assert [json.loads(a.payload)["predictions"][0] for a in answers] == expected
    running = invoker.engine.instances("batched")
    assert running and all(i.pid not in (0, os.getpid()) for i in running)
    # 40 requests arriving together were answered by a few invocations, each with its log; every
    # request has its own id, as in Lambda, named in the log of the batch that answered it.
    ids = [a.request_id for a in answers]
    assert len(set(ids)) == len(ids)
    log = "".join(p.read_text() for p in (project.settings.state_dir / "logs").rglob("*"))
    batches = [
        (batch, int(size), members.split())
        for batch, size, members in _BATCH_LINE.findall(log)
        if set(members.split()) & set(ids)
    ]
    assert 1 <= len(batches) < 10
    assert sorted(rid for _, _, members in batches for rid in members) == sorted(ids)
    for batch, size, members in batches:
        assert size == len(members) and log.count(f"REPORT RequestId: {batch}") == 1
    # An Event invocation's id (the one its 202 gave) is in the log of the batch that ran it.
    accepted = loop.run(invoker.invoke("batched", bodies[0], invocation_type="Event"))
    assert accepted.status == 202
    deadline = time.monotonic() + 30
    while accepted.request_id not in _logged(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accepted.request_id in _logged(project)
    # A request alone in its batch runs under its own id: START, END and REPORT carry it.
    lone = loop.run(invoker.invoke("batched", bodies[1]))
    logged = _logged(project)
    assert f"START RequestId: {lone.request_id} " in logged
    assert f"REPORT RequestId: {lone.request_id}\t" in logged


_BATCH_LINE = re.compile(r"^BATCH RequestId: (\S+) Size: (\d+) Requests: (.*)$", re.MULTILINE)


def _logged(project: Project) -> str:
    return "".join(p.read_text() for p in (project.settings.state_dir / "logs").rglob("*"))


def test_batches_run_one_per_core_the_gateway_leaves_free_within_reserved_concurrency() -> None:
    assert batches_in_flight(None, cores=1) == 1
    assert batches_in_flight(None, cores=2) == 1  # the gateway needs a core of its own
    assert batches_in_flight(None, cores=8) == 7
    assert batches_in_flight(3, cores=8) == 3 and batches_in_flight(1, cores=8) == 1
    assert batches_in_flight(None) >= 1  # this machine's own


SLOW_STEP = """\
import time

import numpy as np


def guard(frame):
    # age 5000: take 30 s; age -5000: take memory until stopped; else: pass the age through
    if (frame["age"] == 5000).any():
        time.sleep(30)
    hog = []
    while (frame["age"] == -5000).any():
        hog.append(np.ones(2**20 // 8))
    return frame[["age"]].to_numpy()
"""


def test_a_model_function_is_held_to_its_timeout_and_memory_limit(setup) -> None:
    # A model whose custom step (a module in the project, as a pipeline `function` step) can be
    # made slow or greedy: the instance is killed, the caller gets Lambda's error, the next
    # request a fresh instance.
    loop, project, invoker = setup
    (project.settings.root / "slowstep.py").write_text(SLOW_STEP)
    importlib.invalidate_caches()
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import FunctionTransformer

    guard = importlib.import_module("slowstep").guard
    pipeline = fitted(LinearRegression(), TRAIN, TRAIN["age"] * 2, steps=FunctionTransformer(guard))
    register(
        project.db,
        project.store,
        pipeline,
        model="guarded",
        task="regression",
        sig=signature({"task": "regression"}),
        trusted_extra=["slowstep.guard"],
    )
    create_function(
        project.db,
        project.store,
        "guarded-api",
        FunctionConfig(kind="model", timeout_s=2, memory_mb=256),
        model="guarded:1",
    )

    def call(age: float) -> Invocation:
        row = {"amount": 1.0, "age": age, "city": "oslo"}
        return loop.run(invoker.invoke("guarded-api", json.dumps({"instances": [row]}).encode()))

    fine = call(30)
    assert fine.function_error is None
    assert json.loads(fine.payload)["predictions"] == pytest.approx([60.0])
    slow = call(5000)
    assert slow.function_error == "Unhandled"
    # Each request of the batch that failed is named by its own id, not the batch's.
    timed_out = f"RequestId: {slow.request_id} Error: Task timed out after 2.00 seconds"
    assert json.loads(slow.payload)["errorMessage"] == timed_out
    greedy = call(-5000)
    assert json.loads(greedy.payload)["errorType"] == "Runtime.OutOfMemory"
    assert json.loads(greedy.payload)["errorMessage"].startswith(f"RequestId: {greedy.request_id} ")
    again = call(30)
    assert again.function_error is None and json.loads(again.payload) == json.loads(fine.payload)


def test_warm_up_starts_a_model_functions_warm_minimum(setup) -> None:
    loop, project, invoker = setup
    version = _logistic(project, "churn-warm")
    create_function(
        project.db,
        project.store,
        "warm-model",
        FunctionConfig(kind="model", warm_minimum=1),
        model=version.ref,
    )
    loop.run(invoker.warm_up())
    running = invoker.engine.instances("warm-model")
    assert len(running) == 1 and running[0].invocations == 0
    body = json.dumps({"instances": instances(HELD_OUT.head(1))}).encode()
    answer = loop.run(invoker.invoke("warm-model", body))
    assert [i.pid for i in invoker.engine.instances("warm-model")] == [running[0].pid]
    assert json.loads(answer.payload)["model"] == version.ref
    loop.run(invoker.function_changed("warm-model"))


def test_callers_that_miss_the_spec_cache_together_share_one_spec(setup) -> None:
    # The first requests of a model function arrive together and each builds its runtime spec:
    # they all keep the first one stored, so the batcher and the pool match it by identity.
    loop, project, invoker = setup
    body = _deployed_model(project, "herd")

    async def together() -> list[Invocation]:
        return await asyncio.gather(*(invoker.invoke("herd", body) for _ in range(16)))

    answers = loop.run(together())
    assert all(a.function_error is None for a in answers)
    _config, spec, batching = _cached(invoker, "herd")
    assert batching.spec is spec


def test_a_config_change_its_spec_does_not_show_is_cached_after_one_build(setup) -> None:
    loop, project, invoker = setup
    body = _deployed_model(project, "recfg")
    loop.run(invoker.invoke("recfg", body))
    changed = FunctionConfig(kind="model", batching=Batching(max_batch_size=16))
    update_function_configuration(project.db, "recfg", changed)
    invoker.forget("recfg")  # as the server does after a change
    loop.run(invoker.invoke("recfg", body))
    config, _spec, batching = _cached(invoker, "recfg")
    assert config == changed  # so the next calls match it, not build the spec again
    # and the new batching applies from the next request on (the same spec, a new batcher)
    assert batching.batcher.max_batch_size == 16


def _deployed_model(project: Project, name: str) -> bytes:
    """Deploy model function `name` (a logistic regression of its own); a one-row request."""
    version = _logistic(project, f"churn-{name}")
    create_function(
        project.db, project.store, name, FunctionConfig(kind="model"), model=version.ref
    )
    return json.dumps({"instances": instances(HELD_OUT.iloc[0:1])}).encode()


def _cached(invoker: Invoker, name: str) -> tuple[Any, Any, Any]:
    """What the invoker keeps for model function `name`: its config and spec, and its batcher."""
    [(config, spec)] = [v for k, v in invoker._specs.items() if k[0] == name]
    [batching] = [b for k, b in invoker._models._batching.items() if k.startswith(f"{name}\0")]
    return config, spec, batching


def test_a_typed_request_carries_its_request_id_and_the_runtime_s_measures_come_back(
    setup, tmp_path: Path
) -> None:
    """Every face hands the Invoker an InvocationRequest; what the runtime measured (duration,
    billed, memory, init on a cold start) is on the Invocation for the queue and metrics."""
    loop, project, invoker = setup
    _create(project, "measured", tmp_path / "code")
    asked = InvocationRequest("measured", b'{"a": 1}', request_id="req-typed-1", source="lambda")
    cold = loop.run(invoker.handle(asked))
    assert cold.request_id == "req-typed-1" and cold.function_error is None
    assert cold.cold and cold.init_ms is not None and cold.init_ms > 0
    assert cold.duration_ms is not None and cold.billed_ms is not None and cold.billed_ms >= 1
    assert cold.max_memory_mb is not None and cold.max_memory_mb >= 1
    warm = loop.run(invoker.handle(InvocationRequest("measured", b"{}")))
    assert not warm.cold and warm.request_id != "req-typed-1"
    accepted = loop.run(invoker.handle(InvocationRequest("measured", b"{}", None, "Event")))
    assert accepted.status == 202 and accepted.duration_ms is None  # nothing ran yet
