"""Which concrete version an invocation runs: `$LATEST`, a number, or an alias's (weighted) pick."""

from __future__ import annotations

import random
from collections.abc import Callable

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
from lambeam.functions.records import FunctionInfo, ResolvedFunction
from lambeam.storage import Database

__all__ = ["resolve"]


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
    kind, qualifier = qualifier_kind(name, qualifier)
    alias = None
    with db.session() as session:
        function = function_row(session, name)
        if kind == "alias":
            alias = qualifier
            qualifier = alias_info(alias_row(session, name, alias)).choose(rng)
        if qualifier == LATEST:
            info: FunctionInfo = latest_info(function)
        else:
            info = version_info(function, version_row(session, name, qualifier))
    return ResolvedFunction(
        name=name,
        version=info.version,
        alias=alias,
        config=info.config,
        code_sha256=info.code_sha256,
        model=info.model,
    )
