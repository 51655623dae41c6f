"""Canonical frames: the one place that turns Arrow tables (or any DataFrame) into lambeam's form.

Numbers are float64 (booleans become 0.0/1.0), everything else is object dtype holding Python
strings with np.nan for missing. pandas 3 reads strings as its 'str' dtype; that is converted
here, so every stage (and a user applying a transform by hand) sees the same types.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from lambeam.data.numbers import (
    ReadCounts,
    Rows,
    Typos,
    check_numbers,
    parse_numbers,
    text_in_declared_numbers,
)

__all__ = ["canonical_frame", "column_type", "from_arrow", "row_hashes", "split_of"]


def from_arrow(
    table: pa.Table | pa.RecordBatch,
    schema: Mapping[str, str],
    rows: Rows,
    coerce: Collection[str] = (),
    infer_text: bool = False,
) -> tuple[pd.DataFrame, ReadCounts]:
    """An Arrow batch as a canonical frame with `schema`'s types applied, and what reading it saw:
    how many values of each `coerce` column were not numbers (made null) and, with `infer_text`
    (CSV, whose types come from text), each undeclared column's Typos, which the pipeline judges
    once over the whole source."""
    columns: dict[str, object] = {}
    read = ReadCounts()
    for name, array in zip(table.column_names, table.columns, strict=True):
        typ = array.type
        if pa.types.is_dictionary(typ):
            array = array.cast(typ.value_type)
            typ = array.type
        numeric = (
            pa.types.is_integer(typ)
            or pa.types.is_floating(typ)
            or pa.types.is_boolean(typ)
            or pa.types.is_decimal(typ)
        )
        forced = schema.get(name)
        if numeric and forced != "string":
            columns[name] = _float64(array, name, rows)
            if name in coerce:
                read.coerced[name] = 0
            if forced is None and infer_text:
                read.typos[name] = Typos(numbers=len(array) - array.null_count)
        elif pa.types.is_null(typ):
            # No value in this batch (JSON lines and Parquet: no type either): the declared type,
            # else a number, as pandas reads an empty column.
            dtype = object if forced == "string" else np.float64
            columns[name] = np.full(len(array), np.nan, dtype=dtype)
            if name in coerce:
                read.coerced[name] = 0
        else:
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                array = array.cast(pa.string())
            strings = _objects(array.to_numpy(zero_copy_only=False))
            if forced == "number":
                values, bad = parse_numbers(strings)
                if name not in coerce and bad.any():
                    text_in_declared_numbers(name, strings, bad, rows)
                if name in coerce:
                    read.coerced[name] = int(bad.sum())
                columns[name] = check_numbers(values, name, rows)
            else:
                if forced is None and infer_text:
                    read.typos[name] = Typos.of_text(strings, rows)
                columns[name] = strings
    return pd.DataFrame(columns, copy=False), read


def _float64(array: pa.Array | pa.ChunkedArray, name: str, rows: Rows) -> np.ndarray:
    """A numeric Arrow array as float64, checked; integers past 2**53 are named as written."""
    values = array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    spelled = (lambda i: array[i].as_py()) if pa.types.is_integer(array.type) else None
    return check_numbers(values, name, rows, spelled)


def canonical_frame(
    frame: pd.DataFrame, schema: Mapping[str, str] | None = None, where: str = ""
) -> pd.DataFrame:
    """`frame` with numbers as float64 and strings as object/np.nan; `schema` forces types."""
    schema = schema or {}
    out = {}
    for name in frame.columns:
        values = frame[name]
        forced = schema.get(name)
        if str(name).startswith("__lambeam"):
            out[name] = values.to_numpy()  # private bookkeeping columns keep their dtype
        elif forced == "number":
            out[name] = _to_number(values, name, where)
        elif forced == "string":
            out[name] = _to_string(values)
        elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(
            values.dtype
        ):
            out[name] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[name] = _to_string(values)
    return pd.DataFrame(out, index=frame.index, copy=False)


def column_type(values: pd.Series) -> str:
    """ "number" or "string": the canonical type of a column."""
    return "number" if values.dtype == np.float64 else "string"


def row_hashes(frame: pd.DataFrame, key: str | None, columns: list[str]) -> np.ndarray:
    """uint64 split hash per row: of the key column, else of the row's raw `columns`."""
    target = frame[key] if key is not None else frame[columns]
    return pd.util.hash_pandas_object(target, index=False).to_numpy(dtype=np.uint64)


def split_of(hashes: np.ndarray, test: float) -> np.ndarray:
    """Boolean mask: True where a row falls in the test split (hash / 2**64 < test)."""
    return hashes.astype(np.float64) / 2.0**64 < test


def _to_number(values: pd.Series, name: str, where: str) -> np.ndarray:
    rows = Rows(where)
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return check_numbers(values.to_numpy(dtype=np.float64, na_value=np.nan), name, rows)
    strings = _objects(values.to_numpy(dtype=object, na_value=np.nan))
    numbers, bad = parse_numbers(strings)
    if bad.any():
        text_in_declared_numbers(name, strings, bad, rows)
    return check_numbers(numbers, name, rows)


def _to_string(values: pd.Series) -> np.ndarray:
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    ):
        return _objects(values.to_numpy())
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        mask = values.isna().to_numpy()
        # Whole numbers read as floats print without ".0", as they were written.
        text = np.array([_number_text(v) for v in values.to_numpy()], dtype=object)
        text[mask] = np.nan
        return text
    array = values.to_numpy(dtype=object, na_value=np.nan)
    mask = pd.isna(array)
    out = (
        np.array([v if isinstance(v, str) else str(v) for v in array], dtype=object)
        if len(array)
        else array
    )
    out[mask] = np.nan
    return out


def _number_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _objects(array: np.ndarray) -> np.ndarray:
    out = array.astype(object, copy=False)
    mask = pd.isna(out)
    if mask.any():
        out = out.copy()
        out[mask] = np.nan
    return out
