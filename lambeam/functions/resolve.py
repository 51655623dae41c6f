"""Which concrete version an invocation runs: `$LATEST`, a number, or an alias's (weighted) pick.

`resolve` reads the database each time; a `Resolver` (the server's) reuses what it read for a second.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from lambeam.functions._rows import (
    alias_info,
    alias_row,
    function_row,
    latest_info,
    qualifier_kind,
    version_info,
    version_row,
)
from lambeam.functions.config import LATEST
from lambeam.functions.records import AliasInfo, FunctionInfo, ResolvedFunction
from lambeam.storage import Database

__all__ = ["RESOLVE_TTL_S", "Resolver", "resolve"]

# How long the gateway reuses what it read: a change made elsewhere is served within this.
RESOLVE_TTL_S = 1.0
_MAX_ENTRIES = 4096


@dataclass(frozen=True)
class _Targets:
    """What a qualifier can run: one version, or an alias's version and its weighted second."""

    alias: AliasInfo | None
    choices: dict[str, ResolvedFunction]  # by version: built once, handed out on every call

    @classmethod
    def of(cls, name: str, alias: AliasInfo | None, versions: list[FunctionInfo]) -> _Targets:
        choices = {
            info.version: ResolvedFunction(
                name=name,
                version=info.version,
                alias=alias.name if alias is not None else None,
                config=info.config,
                code_sha256=info.code_sha256,
                model=info.model,
            )
            for info in versions
        }
        return cls(alias, choices)

    def choose(self, rng: Callable[[], float]) -> ResolvedFunction:
        if self.alias is None:
            return next(iter(self.choices.values()))
        return self.choices[self.alias.choose(rng)]


def resolve(
    db: Database,
    name: str,
    qualifier: str | int | None = None,
    rng: Callable[[], float] = random.random,
) -> ResolvedFunction:
    """The version to run for `name` and `qualifier` (None or `$LATEST`, a number, an alias).

    An alias with routing runs its additional version when `rng()` < its weight, so about that
    share of invocations go there; pass a seeded `rng` for repeatable choices.
    """
    return _targets(db, name, qualifier).choose(rng)


class Resolver:
    """`resolve` for a server's hot path: what a qualifier names is read at most every `ttl_s`.

    Each call still makes its own weighted choice between an alias's versions. Call `forget`
    when this process changes a function, so its own changes apply at once; changes made by
    another process (the CLI, a second server) apply within `ttl_s`. Errors are never cached.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float = RESOLVE_TTL_S,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._rng = rng
        self._cache: TTLCache[tuple[str, str], _Targets] = TTLCache(
            maxsize=_MAX_ENTRIES, ttl=ttl_s, timer=clock
        )

    def cached(self, name: str, qualifier: str | int | None) -> ResolvedFunction | None:
        """The resolution if it is fresh in the cache (no database read), else None."""
        try:  # one lookup, where TTLCache.get makes two (`in`, then `[]`): every call asks
            targets = self._cache[_key(name, qualifier)]
        except KeyError:
            return None
        return targets.choose(self._rng)

    def resolve(self, name: str, qualifier: str | int | None = None) -> ResolvedFunction:
        """As `resolve`, from the cache when fresh (this may read the database)."""
        found = self.cached(name, qualifier)
        if found is not None:
            return found
        targets = self._cache[_key(name, qualifier)] = _targets(self._db, name, qualifier)
        return targets.choose(self._rng)

    def forget(self, name: str) -> None:
        """Drop what is cached for function `name` (it was changed or deleted)."""
        for key in [k for k in list(self._cache) if k[0] == name]:
            self._cache.pop(key, None)


def _key(name: str, qualifier: str | int | None) -> tuple[str, str]:
    return name, LATEST if qualifier is None else str(qualifier)


def _targets(db: Database, name: str, qualifier: str | int | None) -> _Targets:
    kind, qualifier = qualifier_kind(name, qualifier)
    with db.session() as session:
        function = function_row(session, name)
        if kind != "alias":
            if qualifier == LATEST:
                info = latest_info(function)
            else:
                info = version_info(function, version_row(session, name, qualifier))
            return _Targets.of(name, None, [info])
        alias = alias_info(alias_row(session, name, qualifier))
        wanted = [alias.version]
        if alias.routing:
            wanted.append(str(alias.routing["additional_version"]))
        versions = [
            latest_info(function)
            if version == LATEST
            else version_info(function, version_row(session, name, version))
            for version in wanted
        ]
        return _Targets.of(name, alias, versions)
