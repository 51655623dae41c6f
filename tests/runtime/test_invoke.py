"""Invoking code functions: the event and context, environment, and Lambda's error payloads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lambeam.errors import ConfigError
from lambeam.runtime import (
    RUNTIME_HANDLER_NOT_FOUND,
    RUNTIME_IMPORT_MODULE_ERROR,
    RUNTIME_MARSHAL_ERROR,
    RUNTIME_UNMARSHAL_ERROR,
    RUNTIME_USER_CODE_SYNTAX_ERROR,
    Engine,
    FunctionSpec,
)
from tests.runtime.conftest import LoopThread, make_function

HELLO = """
    import os, sys

    def handler(event, context):
        return {
            "event": event,
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(),
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_LAMBDA_FUNCTION_NAME",
                                                   "AWS_REGION")},
            "preloaded": [m in sys.modules for m in ("numpy", "pandas", "sklearn", "onnxruntime")],
            "ppid": os.getppid(),
            "cwd": os.getcwd(),
        }
"""


def test_hello_world_gets_the_event_and_lambdas_context(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, HELLO, memory_mb=256, timeout_s=7.0)
    result = loop.run(
        engine.invoke(spec, b'{"name": "world", "n": [1, 2]}', request_id="req-1", qualifier="prod")
    )
    assert result.function_error is None and result.error_type is None
    body = json.loads(result.payload)
    assert body["event"] == {"name": "world", "n": [1, 2]}
    assert body["aws_request_id"] == result.request_id == "req-1"
    assert body["function_name"] == spec.name
    assert body["function_version"] == result.executed_version == "$LATEST"
    assert (
        body["invoked_function_arn"]
        == f"arn:aws:lambda:us-east-1:000000000000:function:{spec.name}:prod"
    )
    assert body["memory_limit_in_mb"] == "256"
    assert 0 < body["remaining"] <= 7000
    assert body["log_group_name"] == f"/aws/lambda/{spec.name}"
    assert "/[$LATEST]" in body["log_stream_name"]
    assert body["cwd"] == str(spec.code_dir.resolve())


def test_instances_are_forked_from_the_zygote_with_the_stack_imported(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, HELLO)
    body = json.loads(loop.run(engine.invoke(spec, b"{}")).payload)
    assert body["preloaded"] == [True, True, True, True]
    assert body["ppid"] == engine.zygote_pid != os.getpid()


def test_environment_variables_reach_the_handler(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, HELLO, environment={"GREETING": "bonjour"})
    body = json.loads(loop.run(engine.invoke(spec, b"")).payload)
    assert body["event"] == {}
    assert body["env"] == {
        "GREETING": "bonjour",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_REGION": "us-east-1",
    }


def test_a_handler_exception_becomes_lambdas_error_payload(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(
        tmp_path,
        """
        def handler(event, context):
            return helper(event["n"])

        def helper(n):
            raise ValueError(f"bad n: {n}")
        """,
    )
    result = loop.run(engine.invoke(spec, b'{"n": 7}'))
    assert result.function_error == "Unhandled"
    assert result.error_type == "ValueError"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "bad n: 7"
    assert len(doc["stackTrace"]) == 2
    assert 'app.py", line 3, in handler' in doc["stackTrace"][0]
    assert "in helper" in doc["stackTrace"][1]
    assert "[ERROR] ValueError: bad n: 7" in result.log_tail
    # the instance survives a handled error and serves the next call
    again = loop.run(engine.invoke(spec, b'{"n": 8}'))
    assert again.instance_pid == result.instance_pid and again.init_ms is None


@pytest.mark.parametrize(
    ("source", "handler", "error_type", "message"),
    [
        (
            "import no_such_module_anywhere\n",
            "app.handler",
            RUNTIME_IMPORT_MODULE_ERROR,
            "Unable to import module 'app': No module named 'no_such_module_anywhere'",
        ),
        (
            "def handler(e, c):\n    return 1\n",
            "missing.handler",
            RUNTIME_IMPORT_MODULE_ERROR,
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            "def other(e, c):\n    return 1\n",
            "app.handler",
            RUNTIME_HANDLER_NOT_FOUND,
            "Handler 'handler' missing on module 'app'",
        ),
        (
            "def handler(e, c)\n    return 1\n",
            "app.handler",
            RUNTIME_USER_CODE_SYNTAX_ERROR,
            "Syntax error in module 'app'",
        ),
        (  # any importable callable is no handler: it must be the function's own
            "def handler(e, c):\n    return 1\n",
            "os.system",
            RUNTIME_HANDLER_NOT_FOUND,
            "Handler module 'os' is not part of the function's code",
        ),
        (
            "def handler(e, c):\n    return 1\n",
            "json.loads",
            RUNTIME_HANDLER_NOT_FOUND,
            "Handler module 'json' is not part of the function's code",
        ),
    ],
)
def test_init_failures_have_lambdas_error_types(
    engine: Engine,
    loop: LoopThread,
    tmp_path: Path,
    source: str,
    handler: str,
    error_type: str,
    message: str,
) -> None:
    spec = make_function(tmp_path, source, handler=handler)
    result = loop.run(engine.invoke(spec, b"{}"))
    assert result.function_error == "Unhandled"
    assert result.error_type == error_type
    doc = json.loads(result.payload)
    assert doc["errorType"] == error_type
    assert doc["errorMessage"].startswith(message)
    assert result.init_ms is not None
    assert f"Status: error\tError Type: {error_type}" in result.log_tail
    assert engine.instances(spec.name) == []


def test_a_result_that_is_not_json_is_a_marshal_error(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, "def handler(e, c):\n    return {1, 2}\n")
    result = loop.run(engine.invoke(spec, b"{}"))
    assert result.error_type == RUNTIME_MARSHAL_ERROR
    assert "Unable to marshal response" in json.loads(result.payload)["errorMessage"]


def test_versions_never_share_an_instance(engine: Engine, loop: LoopThread, tmp_path: Path) -> None:
    latest = make_function(tmp_path, HELLO)
    published = FunctionSpec(
        name=latest.name, handler=latest.handler, code_dir=latest.code_dir, version="1"
    )
    changed = FunctionSpec(
        name=latest.name,
        handler=latest.handler,
        code_dir=latest.code_dir,
        environment={"GREETING": "new"},
    )
    first = loop.run(engine.invoke(latest, b"{}"))
    second = loop.run(engine.invoke(published, b"{}"))
    assert second.executed_version == "1"
    assert first.instance_pid != second.instance_pid
    third = loop.run(engine.invoke(changed, b"{}"))
    assert third.instance_pid not in (first.instance_pid, second.instance_pid)
    assert json.loads(third.payload)["env"]["GREETING"] == "new"
    pids = {i.pid for i in engine.instances(latest.name)}
    assert first.instance_pid not in pids  # the old $LATEST instance was retired


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", 901),
        ("timeout_s", 0),
        ("memory_mb", 64),
        ("memory_mb", 20000),
        ("handler", "nodot"),
        ("name", "bad name"),
        ("warm_minimum", -1),
        ("environment", {"1BAD": "x"}),
    ],
)
def test_specs_are_validated(tmp_path: Path, field: str, value: object) -> None:
    values: dict[str, object] = {"name": "ok", "handler": "app.handler", "code_dir": tmp_path}
    values[field] = value
    with pytest.raises(ConfigError):
        FunctionSpec(**values)  # type: ignore[arg-type]


def test_the_requirements_folder_is_importable(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements"
    (requirements / "vendored").mkdir(parents=True)
    (requirements / "vendored" / "__init__.py").write_text("ANSWER = 42\n")
    spec = make_function(
        tmp_path,
        "import vendored\n\ndef handler(e, c):\n    return vendored.ANSWER\n",
        requirements_dir=requirements,
    )
    assert loop.run(engine.invoke(spec, b"{}")).payload == b"42"


def test_large_events_results_and_outputs_pass_whole(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(
        tmp_path,
        """
        def handler(event, context):
            print("y" * 300_000)
            return {"echo": event["blob"], "size": len(event["blob"])}
        """,
    )
    blob = "x" * (5 << 20)
    result = loop.run(engine.invoke(spec, json.dumps({"blob": blob}).encode()))
    assert result.function_error is None
    assert json.loads(result.payload) == {"echo": blob, "size": 5 << 20}
    assert "y" * 300_000 + "\n" in result.log_tail


def test_an_event_that_is_not_json_is_an_unmarshal_error(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, "def handler(e, c):\n    return e\n")
    result = loop.run(engine.invoke(spec, b"{not json"))
    assert result.error_type == RUNTIME_UNMARSHAL_ERROR
    assert loop.run(engine.invoke(spec, b"[1, 2]")).payload == b"[1, 2]"
    # Nested past what the JSON reader recurses into: the same error, and the instance lives on.
    deep = loop.run(engine.invoke(spec, b"[" * 5000 + b"]" * 5000))
    assert deep.error_type == RUNTIME_UNMARSHAL_ERROR
    assert "nested too deeply" in json.loads(deep.payload)["errorMessage"]
    assert loop.run(engine.invoke(spec, b"[3]")).payload == b"[3]"
    assert len(engine.instances(spec.name)) == 1


def test_a_result_nested_too_deeply_is_a_marshal_error(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    code = (
        "def handler(e, c):\n    x = []\n    for _ in range(5000):\n        x = [x]\n    return x\n"
    )
    spec = make_function(tmp_path, code)
    result = loop.run(engine.invoke(spec, b"{}"))
    assert result.error_type == RUNTIME_MARSHAL_ERROR
    assert "nested too deeply" in json.loads(result.payload)["errorMessage"]
    assert len(engine.instances(spec.name)) == 1  # the instance serves on
