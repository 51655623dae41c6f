"""Predict requests: checked against the model's signature and built into a canonical frame.

Two body shapes are taken, as TensorFlow Serving and MLServer users expect:

    {"instances": [{"age": 41, "city": "oslo"}, …], "probabilities": true}     one object per row
    {"inputs": {"age": [41, 37], "city": ["oslo", "quito"]}}                    one list per column

Every refusal is an InvalidInputError whose one-line message names the field (and the row, where
there is one), so that a caller can fix the request from the message alone. `parse_batch` checks a
micro-batch's requests together when they all have the common shape (rows that carry every column)
and one at a time otherwise, with the same answers either way. The frame is in
lambeam's canonical form (numbers float64; strings object dtype with np.nan for missing; columns in
signature order), which is what training's transform saw.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from lambeam.inference.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from lambeam.registry.signature import InputColumn, Signature

__all__ = [
    "MAX_ROWS",
    "ParsedBatch",
    "ParsedRequest",
    "columns_frame",
    "decode_body",
    "join_columns",
    "parse_batch",
    "parse_request",
]

MAX_ROWS = 10_000
_KEYS = ("instances", "inputs", "probabilities")
_SHOWN_CATEGORIES = 10
_LARGEST = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class ParsedRequest:
    """A valid request: its rows as checked column arrays, and whether probabilities were asked.

    `columns` holds one array per signature input, in signature order (numbers float64, strings
    object with np.nan for missing); `frame` is them as a canonical DataFrame, and `join_columns`
    joins several requests' columns into one predict's input without a frame per request.
    """

    columns: dict[str, np.ndarray]
    rows: int
    probabilities: bool = False

    @property
    def frame(self) -> pd.DataFrame:
        """The request's rows as a canonical frame."""
        return columns_frame(self.columns)


@dataclass(frozen=True)
class ParsedBatch:
    """A micro-batch's requests, checked: the valid ones' rows joined into one predict's input.

    Valid request k is body `indices[k]` of the batch, its rows are `spans[k]` (start, stop) of
    `columns`, and `probabilities[k]` says whether it asked for them; `errors` holds each
    invalid body's refusal by its index.
    """

    columns: dict[str, np.ndarray]
    indices: list[int]
    spans: list[tuple[int, int]]
    probabilities: list[bool]
    errors: dict[int, InvalidInputError]

    def rows_of(self, k: int) -> dict[str, np.ndarray]:
        """Valid request k's own columns."""
        start, stop = self.spans[k]
        return {name: array[start:stop] for name, array in self.columns.items()}


def decode_body(body: bytes) -> Any:
    """A request body's JSON value (None for an empty body); InvalidInputError if it is not JSON.

    orjson reads it; what orjson refuses (NaN and Infinity literals, numbers past float64, lone
    surrogates, a byte order mark) is read again by the standard library, so that what is
    accepted, and the refusals, are the standard library's. (orjson reads an integer past 64 bits
    as a float: the same float64 once checked, though a message quoting it shows the float.)
    """
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"request body is not JSON: {exc}") from None
    except ValueError as exc:  # an integer past Python's 4,300-digit limit for int()
        raise InvalidInputError(f"request body cannot be read: {exc}") from None
    except RecursionError:  # arrays or objects about a thousand deep: refused, not a crash
        raise InvalidInputError("request body is nested too deeply to read") from None


def parse_batch(
    bodies: Sequence[bytes], signature: Signature, max_rows: int = MAX_ROWS
) -> ParsedBatch:
    """The requests `bodies` (raw JSON) checked against `signature`, each on its own terms.

    Requests of the common shape (`{"instances": [...]}` whose rows carry every column, and
    optionally `"probabilities"`) are checked together, column by column across all their rows;
    if any of their values is refused, or for any other shape, a request is checked alone, so
    that its refusal names its own field and row.
    """
    errors: dict[int, InvalidInputError] = {}
    decoded: list[tuple[int, Any]] = []
    for index, body in enumerate(bodies):
        try:
            decoded.append((index, decode_body(body)))
        except InvalidInputError as exc:
            errors[index] = exc
    names = [spec.name for spec in signature.inputs]
    together = [(i, doc) for i, doc in decoded if names and _common_shape(doc, names, max_rows)]
    joined = _rows_together([doc for _, doc in together], signature, names) if together else None
    pieces: list[ParsedRequest] = []
    indices: list[int] = []
    spans: list[tuple[int, int]] = []
    flags: list[bool] = []

    def add(index: int, rows: int, asked: bool) -> None:
        start = spans[-1][1] if spans else 0
        indices.append(index)
        spans.append((start, start + rows))
        flags.append(asked)

    done: set[int] = set()
    if joined is not None:
        for index, doc in together:
            add(index, len(doc["instances"]), doc.get("probabilities", False))
            done.add(index)
        pieces.append(ParsedRequest(joined, spans[-1][1]))
    for index, doc in decoded:
        if index in done:
            continue
        try:
            request = parse_request(doc, signature, max_rows)
        except InvalidInputError as exc:
            errors[index] = exc
            continue
        pieces.append(request)
        add(index, request.rows, request.probabilities)
    columns = join_columns(pieces) if pieces else {}
    return ParsedBatch(columns, indices, spans, flags, errors)


def _common_shape(doc: Any, names: list[str], max_rows: int) -> bool:
    """Whether `doc` is `{"instances": [rows with exactly the signature's columns]}`, with an
    optional boolean "probabilities" (only such requests are checked together)."""
    if type(doc) is not dict:
        return False
    instances = doc.get("instances")
    asked = doc.get("probabilities", False)
    if type(instances) is not list or type(asked) is not bool:
        return False
    if len(doc) != 1 + ("probabilities" in doc) or not 0 < len(instances) <= max_rows:
        return False
    first = instances[0]
    if type(first) is not dict or len(first) != len(names) or any(n not in first for n in names):
        return False
    keys = first.keys()
    return all(type(row) is dict and row.keys() == keys for row in instances)


def _rows_together(
    docs: list[dict[str, Any]], signature: Signature, names: list[str]
) -> dict[str, np.ndarray] | None:
    """The checked columns of every row of `docs` (all of the common shape), or None if any
    value is refused (each request is then checked alone)."""
    rows = [row for doc in docs for row in doc["instances"]]
    try:
        return _arrays({name: [row[name] for row in rows] for name in names}, signature)
    except InvalidInputError:
        return None


def join_columns(requests: list[ParsedRequest]) -> dict[str, np.ndarray]:
    """The columns of `requests`' rows, in order: one predict's input for all of them."""
    if len(requests) == 1:
        return requests[0].columns
    names = list(requests[0].columns)
    return {name: np.concatenate([r.columns[name] for r in requests]) for name in names}


def columns_frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Checked column arrays (see ParsedRequest) as a canonical frame."""
    import pandas as pd  # here, not at the top: the gateway reads this module and never a frame

    names = list(arrays)
    if all(array.dtype == np.float64 for array in arrays.values()):
        # All numbers: one float64 block, far cheaper for pandas than a column at a time.
        return pd.DataFrame(np.column_stack(list(arrays.values())), columns=names, copy=False)
    # pandas 3 would infer its 'str' dtype from an object array; the canonical form is object
    # dtype, which is what training's transform saw.
    return pd.DataFrame(
        {
            name: array if array.dtype == np.float64 else pd.Series(array, dtype=object, copy=False)
            for name, array in arrays.items()
        },
        copy=False,
    )


def parse_request(body: Any, signature: Signature, max_rows: int = MAX_ROWS) -> ParsedRequest:
    """The request `body` (decoded JSON) checked against `signature`, as a ParsedRequest."""
    if not isinstance(body, dict):
        raise InvalidInputError(
            f"request body must be a JSON object with 'instances' or 'inputs', not {_kind(body)}"
        )
    unknown = [key for key in body if key not in _KEYS]
    if unknown:
        raise InvalidInputError(
            f"unknown request field {_shown(unknown[0])}; expected 'instances' or 'inputs',"
            " and optionally 'probabilities'",
            field=_field(unknown[0]),
        )
    probabilities = body.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise InvalidInputError(
            f"'probabilities' must be true or false, not {_kind(probabilities)}",
            field="probabilities",
        )
    if "instances" in body and "inputs" in body:
        raise InvalidInputError(
            "request has both 'instances' and 'inputs'; send one of them", field="inputs"
        )
    if "instances" in body:
        columns = _from_instances(body["instances"], signature, max_rows)
    elif "inputs" in body:
        columns = _from_inputs(body["inputs"], signature, max_rows)
    else:
        raise InvalidInputError(
            "request has no 'instances' (a list of row objects) or 'inputs' (column lists)",
            field="instances",
        )
    arrays = _arrays(columns, signature)
    rows = len(next(iter(arrays.values()))) if arrays else 0
    return ParsedRequest(arrays, rows, probabilities)


def _from_instances(instances: Any, signature: Signature, max_rows: int) -> dict[str, list[Any]]:
    if not isinstance(instances, list):
        raise InvalidInputError(
            f"'instances' must be a list of row objects, not {_kind(instances)}",
            field="instances",
        )
    _check_rows(len(instances), max_rows, "instances")
    specs = signature.inputs
    names = {spec.name for spec in specs}
    columns: dict[str, list[Any]] = {spec.name: [] for spec in specs}
    for row, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise InvalidInputError(
                f"row {row}: each of 'instances' must be an object of column values,"
                f" not {_kind(instance)}",
                field="instances",
                row=row,
            )
        for key in instance:
            if key not in names:
                raise _unknown_column(key, signature, row)
        for spec in specs:
            name = spec.name
            if name in instance:
                columns[name].append(instance[name])
            elif spec.nullable:
                columns[name].append(None)
            else:
                raise InvalidInputError(
                    f"row {row}: missing column {name!r} (it is required: not nullable)",
                    field=name,
                    row=row,
                )
    return columns


def _from_inputs(inputs: Any, signature: Signature, max_rows: int) -> dict[str, list[Any]]:
    if not isinstance(inputs, dict):
        raise InvalidInputError(
            f"'inputs' must be an object of column lists, not {_kind(inputs)}", field="inputs"
        )
    names = {spec.name for spec in signature.inputs}
    for key, values in inputs.items():
        if key not in names:
            raise _unknown_column(key, signature, None)
        if not isinstance(values, list):
            raise InvalidInputError(
                f"column {key!r} must be a list of values, not {_kind(values)}", field=key
            )
    if not inputs:
        raise InvalidInputError("'inputs' has no columns", field="inputs")
    lengths = {key: len(values) for key, values in inputs.items()}
    first = next(iter(lengths))
    for key, length in lengths.items():
        if length != lengths[first]:
            raise InvalidInputError(
                f"column {key!r} has {length} values but column {first!r} has"
                f" {lengths[first]}; every column needs one value per row",
                field=key,
            )
    rows = lengths[first]
    _check_rows(rows, max_rows, "inputs")
    columns: dict[str, list[Any]] = {}
    for spec in signature.inputs:
        name = spec.name
        if name in inputs:
            columns[name] = inputs[name]
        elif spec.nullable:
            columns[name] = [None] * rows
        else:
            raise InvalidInputError(
                f"missing column {name!r} (it is required: not nullable)", field=name
            )
    return columns


def _check_rows(rows: int, max_rows: int, field: str) -> None:
    if rows == 0:
        raise InvalidInputError(f"'{field}' is empty: there are no rows to predict", field=field)
    if rows > max_rows:
        raise InvalidInputError(
            f"'{field}' has {rows} rows; at most {max_rows} are taken in one request",
            field=field,
        )


def _arrays(columns: dict[str, list[Any]], signature: Signature) -> dict[str, np.ndarray]:
    arrays = _checked_arrays(columns, signature)
    for spec in signature.inputs:
        if spec.greater_than is not None:
            _check_bound(arrays[spec.name], spec)
    return arrays


def _check_bound(values: np.ndarray, spec: InputColumn) -> None:
    """Refuse a value the model's transform cannot take (at or below a log's -1); NaN is the
    nullable check's."""
    bound = spec.greater_than
    low = values <= bound
    if low.any():
        row = int(np.argmax(low))
        raise InvalidInputError(
            f"row {row}, column {spec.name!r}: expected a number greater than {bound:g}"
            f" (the model takes its log), got {float(values[row]):g}",
            field=spec.name,
            row=row,
        )


def _checked_arrays(columns: dict[str, list[Any]], signature: Signature) -> dict[str, np.ndarray]:
    specs = signature.inputs
    numbers = [spec.name for spec in specs if spec.type == "number"]
    checked = _plain_numbers([columns[name] for name in numbers])
    if checked is not None:  # the common case: every number column at once, no NaN or inf
        found = dict(zip(numbers, checked, strict=True))
        if len(numbers) == len(specs):
            return found
    else:
        found = {}
    return {
        spec.name: found[spec.name]
        if spec.name in found
        else (_numbers if spec.type == "number" else _strings)(columns[spec.name], spec)
        for spec in specs
    }


def _plain_numbers(columns: list[list[Any]]) -> np.ndarray | None:
    """The number columns as one [columns, rows] float64 block when every value is a finite
    int or float; None when any is not (the per-column path then says which and where)."""
    if not columns:
        return None
    if not all(type(v) is float or type(v) is int for values in columns for v in values):
        return None
    try:
        block = np.array(columns, dtype=np.float64)
    except (OverflowError, ValueError):  # a huge integer, or ragged columns
        return None
    return block if block.ndim == 2 and np.isfinite(block).all() else None


def _numbers(values: list[Any], spec: InputColumn) -> np.ndarray:
    if all(type(value) is float or type(value) is int for value in values):
        try:
            array = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer past float64's range; the slow path says where
            array = np.array([np.inf])
        if np.isfinite(array).all():
            return array
        # Only NaN, infinities and huge integers get here; the slow path says which and where.
    out = np.empty(len(values), dtype=np.float64)
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float or kind is int:
            if kind is float and math.isnan(value):
                out[row] = _missing(spec, row)
            elif (kind is float and math.isinf(value)) or abs(value) > _LARGEST:
                raise InvalidInputError(
                    f"row {row}, column {spec.name!r}: expected a finite number,"
                    f" got {_shown(value)}",
                    field=spec.name,
                    row=row,
                )
            else:
                out[row] = value
        elif value is None:
            out[row] = _missing(spec, row)
        else:
            raise _wrong_type(spec, row, value, "a number")
    return out


def _strings(values: list[Any], spec: InputColumn) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    categories = spec.categories
    known = set(categories) if categories is not None else None
    for row, value in enumerate(values):
        if type(value) is str:
            if known is not None and value not in known:
                raise _unknown_category(spec, row, value)
            out[row] = value
        elif value is None or (type(value) is float and math.isnan(value)):
            out[row] = _missing(spec, row)
        else:
            raise _wrong_type(spec, row, value, "a string")
    return out


def _missing(spec: InputColumn, row: int) -> float:
    if not spec.nullable:
        raise InvalidInputError(
            f"row {row}, column {spec.name!r}: a value is required (null or NaN is not"
            " allowed; the column is not nullable)",
            field=spec.name,
            row=row,
        )
    return np.nan


def _wrong_type(spec: InputColumn, row: int, value: Any, expected: str) -> InvalidInputError:
    return InvalidInputError(
        f"row {row}, column {spec.name!r}: expected {expected}, got {_kind(value)} {_shown(value)}",
        field=spec.name,
        row=row,
    )


def _unknown_category(spec: InputColumn, row: int, value: str) -> InvalidInputError:
    categories = spec.categories or []
    shown = ", ".join(_shown(c) for c in categories[:_SHOWN_CATEGORIES])
    more = len(categories) - _SHOWN_CATEGORIES
    if more > 0:
        shown += f", … ({more} more)"
    return InvalidInputError(
        f"row {row}, column {spec.name!r}: unknown category {_shown(value)};"
        f" known values are {shown}",
        field=spec.name,
        row=row,
    )


def _unknown_column(name: Any, signature: Signature, row: int | None) -> InvalidInputError:
    where = f"row {row}: " if row is not None else ""
    expected = ", ".join(repr(spec.name) for spec in signature.inputs)
    return InvalidInputError(
        f"{where}unknown column {_shown(name)}; the model takes {_truncated(expected)}",
        field=_field(name),
        row=row,
    )


def _field(name: Any) -> str:
    """A name the client sent, as an error's `field`: lone surrogates (which JSON can carry and
    UTF-8 cannot) escaped, so that the answer can be written at all, and long names cut."""
    return _truncated(str(name).encode("utf-8", "backslashreplace").decode("utf-8"), 200)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shown(value: Any) -> str:
    """A value as a refusal quotes it; a nested one only a few levels deep (a list or object
    nested about a thousand deep is refused, not a RecursionError failing its whole batch)."""
    plain = value is None or isinstance(value, str | int | float | bool)
    return _truncated(repr(value) if plain else _SHOWN.repr(value), 40)


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel = 3


def _truncated(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
