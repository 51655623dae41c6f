"""The column operation protocol: what every operation of `[pipelines.NAME.columns]` provides.

An operation is a small frozen dataclass holding its parameters (defaults filled in), in the
scikit-learn spirit: parameters as given, work in the methods. It owns its whole life:

    parse        the declaration in lambeam.toml, checked (a ConfigError naming its place)
    needs        the column type it takes ("number", "string" or None for either)
    apply        value operations: the values after it (pass 2 and the checks it makes)
    analyze      encoders: what pass 2 gathers from a batch into a ColumnPartial
    finish       encoders: the fitted values put in the column's stats entry
    sklearn_steps  the fitted scikit-learn steps built from that entry
    lower_bound  what a served value must be above for it to take the value

A new operation is one new module with one subclass, listed in operations/__init__.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lambeam.errors import ConfigError

if TYPE_CHECKING:
    from lambeam.data.analyzers import ColumnPlan
    from lambeam.data.partials import ColumnPartial

__all__ = ["Fail", "Operation", "table_params"]

Fail = Callable[[str], ConfigError]


@dataclasses.dataclass(frozen=True)
class Operation:
    """One column operation and its parameters."""

    name: ClassVar[str]
    # An encoder turns values into features (at most one per column, last); the others change values.
    encoder: ClassVar[bool] = False
    column_type: ClassVar[str | None] = None
    # Produces a sparse block of features (the feature matrix is then CSR).
    sparse: ClassVar[bool] = False
    # Takes "name:argument" in the string form (only impute does).
    text_argument: ClassVar[bool] = False
    # Refuses some values, so pass 2 runs it even on a column without an encoder.
    checks_values: ClassVar[bool] = False

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> Operation:
        """The operation declared with `params` (None when given bare), checked."""
        if params not in (None, {}, True):
            raise fail(f"{cls.name!r} takes no parameters")
        return cls()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Operation:
        """The operation from its canonical parameters (as `params` gives them, stored)."""
        return cls(**params)

    @property
    def params(self) -> dict[str, Any]:
        """The canonical parameters: what a dataset version stores and hashes."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self) -> str:
        params = self.params
        return self.name if not params else f"{self.name}{json.dumps(params, sort_keys=True)}"

    def needs(self) -> str | None:
        """The column type this operation takes (None: either)."""
        return self.column_type

    def counts_in_profile(self) -> bool | None:
        """Whether pass 1 must count the column's values (True), must not (False), or either."""
        return None

    def apply(self, values: np.ndarray, plan: ColumnPlan, place: str) -> np.ndarray:
        """A value operation's output for `values` (as the fitted transform computes it)."""
        return values

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        """Gather what this encoder needs from one batch's `values` (after value operations)."""

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        """Put this encoder's fitted values, from the merged `part`, in the stats `entry`."""

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        """The fitted scikit-learn steps; `first`: no step comes before (they meet a frame)."""
        raise NotImplementedError

    def lower_bound(self, bound: float | None) -> float | None:
        """What its input must be above, when what follows needs its output above `bound`."""
        return bound


def table_params(
    name: str, params: Any, defaults: Mapping[str, Any], numbers: tuple[str, ...], fail: Fail
) -> dict[str, Any]:
    """A table of parameters (None: all defaults) merged over `defaults`, its unknown keys
    refused and each of `numbers` checked to be a whole number >= 1."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise fail(f"{name} parameters must be a table")
    bad = sorted(set(params) - set(defaults))
    if bad:
        raise fail(f"{name} has no parameter {bad[0]!r}; expected {', '.join(defaults)}")
    merged = {**defaults, **params}
    for key in numbers:
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise fail(f"{name}.{key} must be a whole number >= 1")
    return merged
