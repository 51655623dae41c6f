"""The invocation core on a real engine: resolve, unpack, run; DryRun, Event, limits, models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from lambeam.functions import (
    Batching,
    CodeBundle,
    FunctionConfig,
    FunctionNotFoundError,
    create_alias,
    create_function,
    publish_version,
    update_function_code,
)
from lambeam.inference import InvalidInputError
from lambeam.invoke import MAX_PAYLOAD_BYTES, Invoker, RequestTooLargeError
from lambeam.project import Project
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
    yield loop, project, invoker
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
        project.db, project.store, "versioned",
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


def test_a_model_function_predicts_what_the_registry_model_predicts(setup) -> None:
    loop, project, invoker = setup
    pipeline = fitted(LogisticRegression(max_iter=500), TRAIN, class_labels(TRAIN))
    version = register(
        project.db, project.store, pipeline, model="churn", task="classification",
        sample=HELD_OUT, sig=signature(CLASSIFIER_OUTPUTS),
    )
    create_function(
        project.db, project.store, "churn-api",
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
