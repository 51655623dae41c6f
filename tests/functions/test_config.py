"""FunctionConfig and names: Lambda's rules, each refusal one line naming the field."""

from __future__ import annotations

import pytest

from lambeam.errors import ConfigError
from lambeam.functions import Batching, FunctionConfig, check_alias_name, check_function_name


def test_defaults_are_lambdas() -> None:
    config = FunctionConfig(kind="code", handler="app.handler")
    assert (config.memory_mb, config.timeout_s, config.warm_minimum) == (512, 30, 0)
    assert config.reserved_concurrency is None and config.batching == Batching(1, 0)
    assert FunctionConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "lambda"}, "kind"),
        ({"handler": None}, "handler"),
        ({"handler": "app"}, "handler"),
        ({"handler": "app.handler()"}, "handler"),
        ({"memory_mb": 64}, "memory_mb"),
        ({"memory_mb": 10241}, "memory_mb"),
        ({"memory_mb": "512"}, "memory_mb"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": 901}, "timeout_s"),
        ({"reserved_concurrency": -1}, "reserved_concurrency"),
        ({"warm_minimum": -1}, "warm_minimum"),
        ({"warm_minimum": 3, "reserved_concurrency": 2}, "warm_minimum"),
        ({"environment": {"1X": "a"}}, "environment"),
        ({"environment": {"X": "a"}}, "environment"),
        ({"environment": {"AWS_REGION": "eu"}}, "environment"),
        ({"environment": {"KEY": 1}}, "environment"),
        ({"environment": {"KEY": "x" * 4100}}, "environment"),
        ({"description": "d" * 257}, "description"),
        ({"batching": Batching(max_batch_size=8)}, "batching"),  # a code function does not batch
        ({"requirements_sha256": "abc"}, "requirements_sha256"),
    ],
)
def test_each_refusal_names_its_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FunctionConfig(**{"kind": "code", "handler": "app.handler", **values})  # type: ignore
    message = str(caught.value)
    assert field in message and "\n" not in message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_batch_size": 0}, "batching.max_batch_size"),
        ({"max_batch_size": 1025}, "batching.max_batch_size"),
        ({"max_wait_ms": 1001}, "batching.max_wait_ms"),
    ],
)
def test_batching_limits(values: dict[str, int], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Batching(**values)


def test_model_functions_batch_and_have_no_handler() -> None:
    config = FunctionConfig(kind="model", batching=Batching(32, 5))
    assert config.batching.enabled
    # Batching is on by default for a model function (64 requests, no wait); 1 turns it off.
    assert FunctionConfig(kind="model").batching == Batching(64, 0)
    assert not FunctionConfig(kind="model", batching=Batching(1)).batching.enabled
    assert FunctionConfig.from_dict({"kind": "model"}).batching == Batching(64, 0)
    with pytest.raises(ConfigError, match="handler"):
        FunctionConfig(kind="model", handler="app.handler")


def test_from_dict_names_the_function_and_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"^function 'churn-api': memory_mb must be from 128"):
        FunctionConfig.from_dict({"kind": "model", "memory_mb": 1}, function="churn-api")
    with pytest.raises(ConfigError, match="function 'x': unknown configuration key 'memroy'"):
        FunctionConfig.from_dict({"kind": "model", "memroy": 1}, function="x")
    loaded = FunctionConfig.from_dict({"kind": "model", "batching": {"max_batch_size": 4}})
    assert loaded.batching == Batching(4, 0)


def test_environment_is_copied() -> None:
    env = {"GREETING": "hi"}
    config = FunctionConfig(kind="code", handler="app.handler", environment=env)
    env["GREETING"] = "changed"
    assert config.environment == {"GREETING": "hi"}


def test_names_follow_lambda() -> None:
    assert check_function_name("churn-api_2") == "churn-api_2"
    for bad in ("", "a" * 65, "churn:1", "churn@prod", "with space", 7):
        with pytest.raises(ConfigError, match="not a function name"):
            check_function_name(bad)
    assert check_alias_name("f", "Prod-2") == "Prod-2"
    for bad in ("12", "", "a" * 129, "$LATEST", "pr od"):
        with pytest.raises(ConfigError, match=r"function 'f': .* is not an alias name"):
            check_alias_name("f", bad)
