"""Canonical frames: the one place that turns Arrow tables (or any DataFrame) into lambeam's form.

Numbers are float64 (booleans become 0.0/1.0), everything else is object dtype holding Python
strings with np.nan for missing. pandas 3 reads strings as its 'str' dtype; that is converted
here, so every stage (and a user applying a transform by hand) sees the same types.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from lambeam.errors import ColumnError

__all__ = ["canonical_frame", "column_type", "from_arrow", "row_hashes", "split_of"]


def from_arrow(
    table: pa.Table | pa.RecordBatch, schema: Mapping[str, str], where: str
) -> pd.DataFrame:
    """An Arrow batch as a canonical frame, with `schema` overrides applied."""
    columns: dict[str, object] = {}
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
        if numeric and schema.get(name) != "string":
            columns[name] = _float64(array, name, where)
        elif pa.types.is_null(typ):
            columns[name] = np.full(len(array), np.nan)
        else:
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                array = array.cast(pa.string())
            columns[name] = _objects(array.to_numpy(zero_copy_only=False))
    frame = pd.DataFrame(columns, copy=False)
    overrides = {c: t for c, t in schema.items() if c in columns}
    if overrides:
        frame = canonical_frame(frame, overrides, where)
    return frame


def _float64(array: pa.Array | pa.ChunkedArray, name: str, where: str) -> np.ndarray:
    try:
        return _finite(array.cast(pa.float64()).to_numpy(zero_copy_only=False), name, where)
    except pa.ArrowInvalid:
        # Integers past 2**53 (ids, mostly) have no exact float64; say how to keep them.
        big = next(v for v in array.to_pylist() if v is not None and abs(v) > 2**53)
        raise ColumnError(
            f"{where}: column {name!r} holds integers too large for a float64 (e.g. {big}); "
            f'declare it as text with source.schema = {{ {name} = "string" }}'
        ) from None


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
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return _finite(values.to_numpy(dtype=np.float64, na_value=np.nan), name, where)
    strings = values.astype(object).where(values.notna(), None)
    numbers = pd.to_numeric(
        strings.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce"
    )
    bad = numbers.isna() & strings.notna() & (strings.map(lambda v: str(v).strip()) != "")
    if bad.any():
        example = strings[bad].iloc[0]
        raise ColumnError(
            f"column {name!r}{' in ' + where if where else ''}: text in a numeric column "
            f'(e.g. {example!r}, {int(bad.sum())} such value(s)); fix the data or declare it "string"'
        )
    return _finite(numbers.to_numpy(dtype=np.float64, na_value=np.nan), name, where)


def _finite(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """`values`, refused if any is infinite: no statistic or model can use an infinity."""
    infinite = np.isinf(values)
    if infinite.any():
        raise ColumnError(
            f"column {name!r}{' in ' + where if where else ''}: {int(infinite.sum())} infinite "
            f"value(s) (e.g. {values[infinite][0]}); fix the data, or filter the rows out"
        )
    return values


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
