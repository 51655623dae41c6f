"""What the functions service hands out: plain records, JSON-able with `to_dict`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambeam.functions.bundles import b64_sha256
from lambeam.functions.config import LATEST, FunctionConfig

__all__ = ["AliasInfo", "FunctionInfo", "ResolvedFunction"]


@dataclass(frozen=True)
class FunctionInfo:
    """One version of a function: `$LATEST` (mutable) or a published number (immutable).

    `model` is the model reference a model function serves: as declared on `$LATEST`
    (`churn@prod`, resolved at each invoke), pinned on a published version (`churn:7`).
    """

    name: str
    version: str  # "$LATEST" or "1", "2", …
    config: FunctionConfig
    code_sha256: str | None  # hex sha256 of the code bundle (code functions)
    model: str | None
    revision_id: str | None  # changes on every update of $LATEST; None on published versions
    description: str  # the function's description, or the one given when publishing
    created_at: datetime
    updated_at: datetime

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def number(self) -> int | None:
        """The published version's number; None for $LATEST."""
        return None if self.version == LATEST else int(self.version)

    @property
    def code_sha256_b64(self) -> str | None:
        """Lambda's CodeSha256: base64 of the digest."""
        return None if self.code_sha256 is None else b64_sha256(self.code_sha256)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "config": self.config.to_dict(),
            "code_sha256": self.code_sha256,
            "code_sha256_b64": self.code_sha256_b64,
            "model": self.model,
            "revision_id": self.revision_id,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class AliasInfo:
    """A function alias: a version, and optionally a weight of traffic sent to a second one."""

    function: str
    name: str
    version: str  # a published number, or "$LATEST"
    routing: dict[str, Any] | None  # {"additional_version": "3", "weight": 0.1}
    description: str
    revision_id: str
    updated_at: datetime

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions it sends traffic to: its own, then the additional one if it routes."""
        if self.routing:
            return self.version, str(self.routing["additional_version"])
        return (self.version,)

    def choose(self, rng: Callable[[], float]) -> str:
        """The version one invocation runs: the additional one when `rng()` < its weight."""
        if self.routing and rng() < float(self.routing["weight"]):
            return str(self.routing["additional_version"])
        return self.version

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "name": self.name,
            "version": self.version,
            "routing": dict(self.routing) if self.routing else None,
            "description": self.description,
            "revision_id": self.revision_id,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ResolvedFunction:
    """The concrete version an invocation runs, and how it was reached."""

    name: str
    version: str  # the executed version: "$LATEST" or a number (Lambda's X-Amz-Executed-Version)
    alias: str | None  # the alias the caller named, if any
    config: FunctionConfig  # reserved_concurrency is the function's, as in Lambda
    code_sha256: str | None
    model: str | None  # `churn@prod` on $LATEST (resolve it now), `churn:7` on a version

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def qualifier(self) -> str:
        """What the caller asked for: the alias, else the version."""
        return self.alias or self.version
