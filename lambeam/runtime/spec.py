"""What the engine needs to run one version of a function."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambeam.errors import ConfigError

__all__ = [
    "LATEST",
    "MAX_MEMORY_MB",
    "MAX_TIMEOUT_S",
    "MIN_MEMORY_MB",
    "MIN_TIMEOUT_S",
    "FunctionSpec",
    "function_arn",
    "split_function_name",
]

# Lambda's own names and bounds; the functions service and both faces take them from here.
LATEST = "$LATEST"
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240
MIN_TIMEOUT_S = 1  # a configured timeout, in whole seconds (the engine itself takes any > 0)
MAX_TIMEOUT_S = 900

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VERSION = re.compile(r"\$LATEST|[0-9]{1,10}")
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """One version of a function: its handler, code, limits and environment.

    A code function's handler takes the JSON-decoded event and returns something JSON-able; a
    `raw` handler (what a model function's instances run) takes the payload bytes and returns
    bytes, so a micro-batch of requests passes through the runtime without being re-encoded.

    Two specs with the same name and version but different content (an updated $LATEST) never
    share an instance. Keyword arguments only; not hashable (the environment is a dict).
    """

    name: str
    handler: str
    code_dir: Path
    version: str = LATEST
    requirements_dir: Path | None = None
    memory_mb: int = 512
    timeout_s: float = 30.0
    reserved_concurrency: int | None = None
    warm_minimum: int = 0
    environment: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    raw: bool = False  # the handler takes and returns bytes (a model function's batch handler)
    python_path: tuple[Path, ...] = ()  # importable after the code (a model's custom steps)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code_dir", Path(self.code_dir))
        if self.requirements_dir is not None:
            object.__setattr__(self, "requirements_dir", Path(self.requirements_dir))
        object.__setattr__(self, "python_path", tuple(Path(p) for p in self.python_path))
        object.__setattr__(self, "environment", dict(self.environment))
        where = f"function {self.name!r}"
        if not _NAME.fullmatch(self.name):
            raise ConfigError(f"{where}: a name is 1-64 letters, digits, '-' or '_'")
        if not _VERSION.fullmatch(self.version):
            raise ConfigError(f"{where}: version must be $LATEST or a number, got {self.version!r}")
        module, _, attr = self.handler.rpartition(".")
        if not module or not attr:
            raise ConfigError(
                f"{where}: handler must be 'module.function' (e.g. 'app.handler'), "
                f"got {self.handler!r}"
            )
        if isinstance(self.memory_mb, bool) or not MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB:
            raise ConfigError(
                f"{where}: memory_mb must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB}, "
                f"got {self.memory_mb}"
            )
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ConfigError(
                f"{where}: timeout_s must be above 0 and at most {MAX_TIMEOUT_S:g}, "
                f"got {self.timeout_s}"
            )
        if self.reserved_concurrency is not None and self.reserved_concurrency < 0:
            raise ConfigError(f"{where}: reserved_concurrency must be 0 or more")
        if self.warm_minimum < 0:
            raise ConfigError(f"{where}: warm_minimum must be 0 or more")
        if self.reserved_concurrency is not None and self.warm_minimum > self.reserved_concurrency:
            raise ConfigError(
                f"{where}: warm_minimum ({self.warm_minimum}) is above its reserved concurrency "
                f"({self.reserved_concurrency})"
            )
        for key, value in self.environment.items():
            if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
                raise ConfigError(f"{where}: environment variable name {key!r} is not valid")
            if not isinstance(value, str):
                raise ConfigError(f"{where}: environment variable {key} must be a string")

    @property
    def log_group_name(self) -> str:
        """Lambda's log group for this function."""
        return f"/aws/lambda/{self.name}"


def function_arn(name: str, region: str, account_id: str, qualifier: str | None = None) -> str:
    """arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>], as Lambda writes it."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def split_function_name(raw: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """A FunctionName as Lambda takes it (a name, `name:qualifier`, or a function ARN) and a
    separate qualifier, as (name, qualifier); ConfigError when the two qualifiers differ."""
    if raw.startswith("arn:"):
        parts = raw.split(":")
        if len(parts) < 7 or parts[5] != "function":
            raise ConfigError(f"FunctionName {raw!r} is not a function ARN")
        name, inline = parts[6], parts[7] if len(parts) > 7 else None
    else:
        name, _, inline = raw.partition(":")
    if inline and qualifier and inline != qualifier:
        raise ConfigError(
            f"the qualifier in {raw!r} and the qualifier {qualifier!r} differ; give one of them"
        )
    return name, qualifier or inline or None
