"""Model references (`name`, `name:7`, `name@prod`) and the names they are made of."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambeam.errors import ConfigError

__all__ = ["ModelRef", "check_alias_name", "check_model_name", "parse_model_ref"]

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
# An alias must not look like a version number, or `name@3` and `name:3` would be confusable.
_ALIAS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,99}")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: the newest version (both None), a number, or an alias."""

    name: str
    number: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.number is not None:
            return f"{self.name}:{self.number}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_model_name(name: str) -> str:
    """`name` if it is a usable model name (letters, digits, `_.-`; no `:` or `@`)."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a model name; use letters, digits, '_', '.', '-' (up to 200)"
        )
    return name


def check_alias_name(alias: str) -> str:
    """`alias` if it is a usable alias name such as `prod` or `staging-eu`."""
    if not isinstance(alias, str) or not _ALIAS_NAME.fullmatch(alias):
        raise ConfigError(
            f"{alias!r} is not an alias name; start with a-z, then a-z, 0-9, '_' or '-'"
        )
    return alias


def parse_model_ref(ref: str) -> ModelRef:
    """`name` (newest version), `name:N` or `name@alias` into a ModelRef."""
    usage = f"{ref!r} is not a model reference; use NAME, NAME:N or NAME@ALIAS"
    if not isinstance(ref, str) or not ref or ref.count(":") + ref.count("@") > 1:
        raise ConfigError(usage)
    try:
        if ":" in ref:
            name, _, number = ref.partition(":")
            check_model_name(name)
            if not number.isdigit() or int(number) < 1:
                raise ConfigError("the version after ':' must be a number from 1")
            return ModelRef(name, number=int(number))
        if "@" in ref:
            name, _, alias = ref.partition("@")
            return ModelRef(check_model_name(name), alias=check_alias_name(alias))
        return ModelRef(check_model_name(ref))
    except ConfigError as exc:
        raise ConfigError(f"{usage}: {exc}") from None
