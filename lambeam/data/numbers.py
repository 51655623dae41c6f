"""Numbers read from text: when a text column is really numbers with a few bad values, what
`errors = "coerce"` does with those, and the values a float64 feature cannot hold.

The rule (stated in the errors it gives): a CSV column that pyarrow read as text is "numbers except
for a few values" when it has at least MIN_VALUES non-empty values and at most FEW_DISTINCT distinct
ones, making up at most 1% of them (at least one allowed), are not numbers. Such a
column is an error naming the values and their lines, wherever in the file they sit (a value past
pyarrow's first block fails its conversion; the reader then checks the whole column by this rule).
A column with more non-numbers is text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lambeam.errors import ColumnError

__all__ = [
    "EXACT",
    "Rows",
    "check_numbers",
    "parse_numbers",
    "refuse_few_bad",
    "text_in_declared_numbers",
]

# float64 holds every whole number below 2**53 exactly; at and past it, ids and counts round.
EXACT = 2**53
FEW_SHARE = 0.01
FEW_DISTINCT = 5
MIN_VALUES = 10
_SHOWN = 5
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?(inf|infinity|nan))$"
_RULE = (
    f"a column reads as numbers when at most {FEW_DISTINCT} distinct values, and at most "
    f"{FEW_SHARE:.0%} of its values (at least 1), are not numbers"
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

    Vectorised in Arrow (a regex, then a cast): about 4x faster than pandas.to_numeric on
    strings, and it decides alike (surrounding spaces allowed; inf and nan are numbers)."""
    array = pa.array(strings, type=pa.string(), from_pandas=True)
    trimmed = pc.utf8_trim_whitespace(array)
    numeric = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
    present = pc.fill_null(pc.not_equal(trimmed, ""), False)
    bad = pc.and_(present, pc.invert(numeric)).to_numpy(zero_copy_only=False)
    kept = pc.if_else(numeric, trimmed, pa.scalar(None, pa.string()))
    values = pc.cast(kept, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64), np.asarray(bad, dtype=bool)


def refuse_few_bad(name: str, strings: np.ndarray, rows: Rows) -> None:
    """Raise when the text column `strings` is numbers except for a few values (the rule above)."""
    present = [v for v in strings[:200] if isinstance(v, str) and v.strip()]
    if _distinct_bad(present) > FEW_DISTINCT:
        return  # plainly text: most columns stop here, before parsing the whole batch
    values, bad = parse_numbers(strings)
    count = int(bad.sum())
    total = int(count + np.count_nonzero(~np.isnan(values)))
    if count == 0 or total < MIN_VALUES or count > max(1, int(FEW_SHARE * total)):
        return
    if len({strings[i].strip() for i in np.flatnonzero(bad)}) > FEW_DISTINCT:
        return
    raise ColumnError(
        f"column {name!r}{rows.prefix}: numbers except for {count} value(s) that are not: "
        f"{_examples(strings, bad, rows)}; declare its type in source.schema: "
        f'{name} = {{ type = "number", errors = "coerce" }} makes them null (the run counts '
        f'them), {name} = "string" keeps the column text ({_RULE})'
    )


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


def _distinct_bad(values: list[str]) -> int:
    _, bad = parse_numbers(np.asarray(values, dtype=object))
    return len({values[i].strip() for i in np.flatnonzero(bad)})


def _examples(strings: np.ndarray, bad: np.ndarray, rows: Rows) -> str:
    indices = np.flatnonzero(bad)
    shown = ", ".join(f"{strings[i]!r} ({rows.name(int(i))})" for i in indices[:_SHOWN])
    return shown + (f" and {len(indices) - _SHOWN} more" if len(indices) > _SHOWN else "")
