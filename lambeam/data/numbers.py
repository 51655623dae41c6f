"""Numbers read from text: when a text column is really numbers with a few bad values, what
`errors = "coerce"` does with those, and the values a float64 feature cannot hold.

The rule (stated in the errors it gives): an undeclared CSV column with at least MIN_VALUES
non-empty values, at least MOSTLY of them numbers (true and false count, as pyarrow reads them as
booleans: 1 and 0), whose other values take at most FEW_DISTINCT distinct values, is "numbers with
typos": an error naming the values, their count and their first lines. It is judged over the whole
source, never per batch: each batch's Typos are merged (as the profile is) and judged once, so the
outcome does not depend on where the bad values sit. A column with more varied text is text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lambeam.errors import ColumnError

__all__ = [
    "EXACT",
    "ReadCounts",
    "Rows",
    "Typos",
    "check_numbers",
    "parse_numbers",
    "refuse_typos",
    "text_in_declared_numbers",
]

# float64 holds every whole number below 2**53 exactly; at and past it, ids and counts round.
EXACT = 2**53
MOSTLY = 0.9
FEW_DISTINCT = 5
MIN_VALUES = 10
_SHOWN = 5
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?(inf|infinity|nan))$"
# The spellings pyarrow's CSV reader takes for booleans (besides 1 and 0, numbers already).
_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")
_RULE = (
    f"the rule: a column of {MIN_VALUES} or more values, at least {MOSTLY:.0%} of them numbers "
    f"(or true/false), whose other values take at most {FEW_DISTINCT} distinct values, is "
    "numbers with typos; a column with more varied text is text"
)


@dataclass(frozen=True)
class Rows:
    """Where a batch's rows sit in their file, so that a message names a row as a user finds it.

    `header` is the lines before the first row (CSV: 1, JSON lines: 0); None names rows by their
    number instead (Parquet, or a frame from no file). Lines assume no value spans two lines.
    """

    where: str
    first: int = 0
    header: int | None = None

    def name(self, index: int) -> str:
        if self.header is None:
            return f"row {self.first + index + 1}"
        return f"line {self.first + index + self.header + 1}"

    @property
    def prefix(self) -> str:
        return f" in {self.where}" if self.where else ""


def parse_numbers(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of the non-empty values that are not numbers) of a text column.
    true and false (pyarrow's spellings) are 1 and 0, as a column pyarrow reads as booleans is.

    Vectorised in Arrow (a regex, then a cast): about 4x faster than pandas.to_numeric on
    strings, and it decides alike (surrounding spaces allowed; inf and nan are numbers)."""
    values, bad, _ = _parse(strings)
    return values, bad


def _parse(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """parse_numbers's values and mask, and how many values are not empty."""
    array = pa.array(strings, type=pa.string(), from_pandas=True)
    trimmed = pc.utf8_trim_whitespace(array)
    numeric = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
    true = pc.fill_null(pc.is_in(trimmed, value_set=pa.array(_TRUE)), False)
    false = pc.fill_null(pc.is_in(trimmed, value_set=pa.array(_FALSE)), False)
    present = pc.fill_null(pc.not_equal(trimmed, ""), False)
    valid = pc.or_(numeric, pc.or_(true, false))
    bad = pc.and_(present, pc.invert(valid)).to_numpy(zero_copy_only=False)
    kept = pc.cast(pc.if_else(numeric, trimmed, pa.scalar(None, pa.string())), pa.float64())
    kept = pc.if_else(true, 1.0, pc.if_else(false, 0.0, kept))
    values = np.asarray(kept.to_numpy(zero_copy_only=False), dtype=np.float64)
    return values, np.asarray(bad, dtype=bool), int(pc.sum(present).as_py() or 0)


@dataclass
class Typos:
    """What an undeclared CSV column has shown of the rule so far, merged over batches and files
    in any order: its numbers, its other values (how many, which, and the first few, by file and
    row), or that those are too varied to be typos."""

    numbers: int = 0
    bad: int = 0
    distinct: set[str] = field(default_factory=set)
    # (file, row in it, the row as named to a user, value): the earliest _SHOWN bad values.
    first: list[tuple[str, int, str, str]] = field(default_factory=list)
    varied: bool = False

    @classmethod
    def of_text(cls, strings: np.ndarray, rows: Rows) -> Typos:
        """Typos of a batch of a column read as text."""
        sample = [v.strip() for v in strings[:200] if isinstance(v, str) and v.strip()]
        _, bad = parse_numbers(np.asarray(sample, dtype=object))
        if len({sample[i] for i in np.flatnonzero(bad)}) > FEW_DISTINCT:
            return cls(varied=True)  # plainly text: most columns stop here, before parsing all
        _, bad, present = _parse(strings)
        indices = np.flatnonzero(bad)
        typos = cls(numbers=present - len(indices), bad=len(indices))
        typos.distinct = {strings[i].strip() for i in indices}
        typos.first = [
            (rows.where, rows.first + int(i), rows.name(int(i)), strings[i])
            for i in indices[:_SHOWN]
        ]
        typos.varied = len(typos.distinct) > FEW_DISTINCT
        return typos

    def merge(self, other: Typos) -> Typos:
        self.numbers += other.numbers
        self.bad += other.bad
        self.first = sorted(self.first + other.first)[:_SHOWN]
        self.varied = self.varied or other.varied
        self.distinct = set() if self.varied else self.distinct | other.distinct
        if len(self.distinct) > FEW_DISTINCT:
            self.varied, self.distinct = True, set()
        return self

    def are_typos(self) -> bool:
        """Whether the column is numbers with typos by the rule (an error to report)."""
        total = self.numbers + self.bad
        return (
            self.bad > 0
            and not self.varied
            and total >= MIN_VALUES
            and self.numbers >= MOSTLY * total
        )


def refuse_typos(name: str, typos: Typos) -> None:
    """Raise when `typos`, a column's whole count, make it numbers with typos (the rule above)."""
    if not typos.are_typos():
        return
    files = {where for where, *_ in typos.first}
    one = next(iter(files)) if len(files) == 1 else ""
    shown = ", ".join(
        f"{value!r} ({row if one else f'{where} {row}'})" for where, _, row, value in typos.first
    )
    more = typos.bad - len(typos.first)
    raise ColumnError(
        f"column {name!r}{f' in {one}' if one else ''}: numbers except for {typos.bad} value(s) "
        f"that are not: {shown}{f' and {more} more' if more else ''}; declare its type in "
        f'source.schema: {name} = {{ type = "number", errors = "coerce" }} makes them null (the '
        f'run counts them), {name} = "string" keeps the column text ({_RULE})'
    )


@dataclass
class ReadCounts:
    """What reading saw besides values, merged like a profile: per errors = "coerce" column the
    values read as null, and per undeclared CSV column its Typos."""

    coerced: dict[str, int] = field(default_factory=dict)
    typos: dict[str, Typos] = field(default_factory=dict)

    def merge(self, other: ReadCounts) -> ReadCounts:
        for name, count in other.coerced.items():
            self.coerced[name] = self.coerced.get(name, 0) + count
        for name, typos in other.typos.items():
            self.typos.setdefault(name, Typos()).merge(typos)  # a copy: inputs stay unchanged
        return self

    def refuse_typos(self) -> None:
        """Raise for the first column (by name) that is numbers with typos, over all it read."""
        for name in sorted(self.typos):
            refuse_typos(name, self.typos[name])


def text_in_declared_numbers(name: str, strings: np.ndarray, bad: np.ndarray, rows: Rows) -> None:
    """Raise for text in a column declared "number" without errors = "coerce"."""
    raise ColumnError(
        f"column {name!r}{rows.prefix}: text in a numeric column, {int(bad.sum())} value(s): "
        f"{_examples(strings, bad, rows)}; fix the data, declare "
        f'{name} = {{ type = "number", errors = "coerce" }} in source.schema to make them null, '
        f'or declare it "string"'
    )


def check_numbers(
    values: np.ndarray, name: str, rows: Rows, spelled: Callable[[int], object] | None = None
) -> np.ndarray:
    """`values` (float64), refused if any is infinite or at or past 2**53 in magnitude, where a
    float64 feature no longer holds every whole number (both spellings, 1e26 and
    9223372036854775807, are refused alike). `spelled(i)` is value i as read, when not a float."""
    infinite = np.isinf(values)
    if infinite.any():
        raise ColumnError(
            f"column {name!r}{rows.prefix}: {int(infinite.sum())} infinite "
            f"value(s) (e.g. {values[infinite][0]} on {rows.name(int(np.flatnonzero(infinite)[0]))}); "
            "fix the data, or filter the rows out"
        )
    with np.errstate(invalid="ignore"):
        large = np.abs(values) >= EXACT
    if large.any():
        index = int(np.flatnonzero(large)[0])
        shown = spelled(index) if spelled is not None else values[index]
        raise ColumnError(
            f"column {name!r}{rows.prefix}: {shown} on {rows.name(index)} ({int(large.sum())} "
            f"such value(s)) is 2**53 or more in magnitude, where float64 features stop holding "
            f"every whole number exactly (it would be {int(values[index])}); declare it as text with "
            f'source.schema = {{ {name} = "string" }} (an identifier: also drop = ["{name}"]), '
            "or rescale it in the data"
        )
    return values


def _examples(strings: np.ndarray, bad: np.ndarray, rows: Rows) -> str:
    indices = np.flatnonzero(bad)
    shown = ", ".join(f"{strings[i]!r} ({rows.name(int(i))})" for i in indices[:_SHOWN])
    return shown + (f" and {len(indices) - _SHOWN} more" if len(indices) > _SHOWN else "")
