"""A function's configuration, validated, and the names Lambda allows for functions and aliases.

`FunctionConfig` is what `$LATEST` and every published version carry. Each validation error is
one line naming the field; `FunctionConfig.from_dict` (the path of lambeam.toml and the APIs) adds
the function's name in front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lambeam.errors import ConfigError
from lambeam.runtime import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.runtime.spec import LATEST, MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB, MIN_TIMEOUT_S

__all__ = [
    "KINDS",
    "LATEST",
    "MODEL_BATCHING",
    "Batching",
    "FunctionConfig",
    "batching_from",
    "check_alias_name",
    "check_function_name",
]

KINDS = ("code", "model")

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Lambda: letters, digits, '-' and '_', up to 128, and not all digits (that would be a version).
_ALIAS_NAME = re.compile(r"(?!\d+$)[A-Za-z0-9_-]{1,128}")
_HANDLER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ENV_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
_DIGEST = re.compile(r"[0-9a-f]{64}")
# A dead-letter target: an SQS queue's or SNS topic's ARN, or a queue's bare name.
_DEAD_LETTER_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]*:[0-9]*:[A-Za-z0-9_.-]{1,256}"
)
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# Set by the runtime itself, so Lambda refuses them as user variables.
RESERVED_ENVIRONMENT = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)
ENVIRONMENT_LIMIT = 4096  # bytes of keys and values together, Lambda's 4 KB
DESCRIPTION_LIMIT = 256


def check_function_name(name: object) -> str:
    """`name` if Lambda would accept it as a function name: [A-Za-z0-9-_], 1 to 64 characters."""
    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a function name; use letters, digits, '-' and '_' (1 to 64)"
        )
    return name


def check_alias_name(function: str, alias: object) -> str:
    """`alias` if Lambda would accept it: [A-Za-z0-9-_], 1 to 128, not all digits."""
    if not isinstance(alias, str) or not _ALIAS_NAME.fullmatch(alias):
        raise ConfigError(
            f"function {function!r}: {alias!r} is not an alias name; use letters, digits, '-' and"
            " '_' (1 to 128), not only digits"
        )
    return alias


def _integer(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


@dataclass(frozen=True)
class Batching:
    """How a model function gathers requests into one predict: Lambda has no such thing.

    `max_batch_size` counts requests (as TorchServe's batch size does); 1 turns batching off.
    With `max_wait_ms` 0 a batch waits for nothing: a request that finds an instance free runs
    at once, and only requests arriving while a batch runs are gathered into the next one; under
    load each batch takes its share of the requests recently open at once, so that one batch is
    predicted while the gateway answers another (`lambeam.invoke.MicroBatcher`).
    """

    max_batch_size: int = 1
    max_wait_ms: int = 0

    def __post_init__(self) -> None:
        _integer("batching.max_batch_size", self.max_batch_size, 1, 1024)
        _integer("batching.max_wait_ms", self.max_wait_ms, 0, 1000)

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1


# A model function batches by default: under load one predict answers many requests, and with
# no wait a lone request is not held back.
MODEL_BATCHING = Batching(max_batch_size=64, max_wait_ms=0)


@dataclass(frozen=True)
class FunctionConfig:
    """Everything about a function but its code or model: validated when built.

    `batching` defaults to MODEL_BATCHING for a model function, off for a code function.

    `requirements_sha256` is set by deploying, never by the user: the digest of the zip of the
    packages its bundle's requirements.txt installed.

    `dead_letter_target` is Lambda's DeadLetterConfig.TargetArn: the SQS queue or SNS topic
    that an asynchronous event goes to when it fails and no failure destination is set. A
    queue's bare name is kept as its ARN; "" clears it, as Lambda's empty TargetArn does.
    """

    kind: str = "code"
    handler: str | None = None
    memory_mb: int = 512
    timeout_s: int = 30
    reserved_concurrency: int | None = None
    warm_minimum: int = 0
    batching: Batching = None  # type: ignore[assignment]  # None: the kind's default
    environment: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    requirements_sha256: str | None = None
    dead_letter_target: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be 'code' or 'model', got {self.kind!r}")
        if self.kind == "code":
            if not isinstance(self.handler, str) or not self.handler:
                raise ConfigError("handler is required for a code function (e.g. 'app.handler')")
            if len(self.handler) > 128 or not _HANDLER.fullmatch(self.handler):
                raise ConfigError(
                    f"handler must be 'module.function' (dotted Python names), got {self.handler!r}"
                )
        elif self.handler is not None:
            raise ConfigError("handler is only for code functions; a model function has none")
        _integer("memory_mb", self.memory_mb, MIN_MEMORY_MB, MAX_MEMORY_MB)
        _integer("timeout_s", self.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        if self.reserved_concurrency is not None:
            _integer("reserved_concurrency", self.reserved_concurrency, 0)
        _integer("warm_minimum", self.warm_minimum, 0)
        if self.reserved_concurrency is not None and self.warm_minimum > self.reserved_concurrency:
            raise ConfigError(
                f"warm_minimum ({self.warm_minimum}) must not exceed reserved_concurrency"
                f" ({self.reserved_concurrency})"
            )
        if self.batching is None:
            default = MODEL_BATCHING if self.kind == "model" else Batching()
            object.__setattr__(self, "batching", default)
        if not isinstance(self.batching, Batching):
            raise ConfigError(f"batching must be a Batching, got {self.batching!r}")
        if self.kind == "code" and self.batching != Batching():
            raise ConfigError("batching is only for model functions")
        self._check_environment()
        if not isinstance(self.description, str) or len(self.description) > DESCRIPTION_LIMIT:
            raise ConfigError(
                f"description must be a string of at most {DESCRIPTION_LIMIT} characters"
            )
        digest = self.requirements_sha256
        if digest is not None and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
            raise ConfigError(f"requirements_sha256 must be a sha256 digest, got {digest!r}")
        # A private copy, so that the caller's dict cannot change a frozen config afterwards.
        object.__setattr__(self, "environment", dict(self.environment))
        object.__setattr__(self, "dead_letter_target", _dead_letter(self.dead_letter_target))

    def _check_environment(self) -> None:
        if not isinstance(self.environment, Mapping):
            raise ConfigError(f"environment must be a table of strings, got {self.environment!r}")
        size = 0
        for key, value in self.environment.items():
            if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
                raise ConfigError(
                    f"environment: {key!r} is not a variable name; start with a letter, then"
                    " letters, digits or '_' (at least 2 characters)"
                )
            if key in RESERVED_ENVIRONMENT:
                raise ConfigError(f"environment: {key} is reserved for the runtime")
            if not isinstance(value, str):
                raise ConfigError(f"environment: {key} must be a string, got {value!r}")
            size += len(key.encode()) + len(value.encode())
        if size > ENVIRONMENT_LIMIT:
            raise ConfigError(
                f"environment: {size} bytes of names and values, more than Lambda's 4 KB"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, the shape kept in the database."""
        data = asdict(self)
        data["environment"] = dict(self.environment)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], function: str | None = None) -> FunctionConfig:
        """Build from `to_dict`'s shape; unknown keys and bad values name `function`."""
        prefix = f"function {function!r}: " if function else ""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            given = ", ".join(sorted(known - {"kind", "requirements_sha256"}))
            raise ConfigError(
                f"{prefix}unknown configuration key {unknown[0]!r}; expected one of {given}"
            )
        values = dict(data)
        try:
            if "batching" in values:
                values["batching"] = batching_from(values["batching"])
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{prefix}{exc}") from None

    def comparable(self) -> dict[str, Any]:
        """What a user declares: everything but the derived requirements digest."""
        data = self.to_dict()
        data.pop("requirements_sha256")
        return data


def _dead_letter(value: object) -> str | None:
    """A dead-letter target as its ARN (None for none)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DEAD_LETTER_ARN.fullmatch(value):
        return value
    if isinstance(value, str) and _QUEUE_NAME.fullmatch(value):
        return f"arn:aws:sqs:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:{value}"
    raise ConfigError(
        f"dead_letter_target must be an SQS queue's or SNS topic's ARN, or a queue's name;"
        f" got {value!r}"
    )


def batching_from(value: object) -> Batching:
    """A Batching from a table such as {max_batch_size = 32, max_wait_ms = 5}."""
    if isinstance(value, Batching):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"batching must be a table, got {value!r}")
    unknown = sorted(set(value) - {"max_batch_size", "max_wait_ms"})
    if unknown:
        raise ConfigError(f"batching has unknown key {unknown[0]!r}")
    return Batching(**value)
