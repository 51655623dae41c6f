"""Finding a pipeline's input files and reading them as canonical batches of ~64k rows.

Files are listed (globs expanded) with fsspec on the driver; each worker opens its files through
fsspec again, so local folders and s3:// work the same on any runner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from lambeam.data.frames import from_arrow
from lambeam.data.spec import SourceSpec
from lambeam.errors import ColumnError, DataError, SourceNotFoundError

__all__ = ["BATCH_ROWS", "expand_source", "hash_inputs", "read_batches"]

BATCH_ROWS = 65_536
_BLOCK_BYTES = 8 << 20


def source_options(url: str, storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """fsspec options for a source URL: the store's options apply to s3:// sources."""
    return dict(storage_options) if url.startswith("s3://") else {}


def expand_source(source: SourceSpec, root: Path, storage_options: Mapping[str, Any]) -> list[str]:
    """The sorted file URLs a source path or glob names (relative paths are under `root`)."""
    path = source.path
    if "://" not in path and not Path(path).is_absolute():
        path = str(root / path)
    fs, _ = url_to_fs(path, **source_options(path, storage_options))
    if any(ch in path for ch in "*?["):
        matches = [m for m in fs.glob(path) if fs.isfile(m)]
    else:
        matches = [path] if fs.exists(path) and fs.isfile(path) else []
    if not matches:
        raise SourceNotFoundError(f"source {source.path!r} matches no file (looked for {path})")
    return sorted(fs.unstrip_protocol(m) if "://" in path else m for m in matches)


def hash_inputs(paths: list[str], storage_options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """sha256 and size of every input file, in path order."""
    inputs = []
    for url in paths:
        digest = hashlib.sha256()
        size = 0
        with fsspec.open(url, "rb", **source_options(url, storage_options)) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        inputs.append({"path": url, "sha256": digest.hexdigest(), "size": size})
    return inputs


def read_batches(
    url: str, source: SourceSpec, storage_options: Mapping[str, Any]
) -> Iterator[pd.DataFrame]:
    """Canonical frames of up to BATCH_ROWS rows each, in file order."""
    fmt = source.format_of(url)
    with fsspec.open(
        url, "rb", compression="infer", **source_options(url, storage_options)
    ) as handle:
        try:
            yield from _rebatch(_arrow_batches(handle, fmt, source), source.schema, url)
        except pa.ArrowInvalid as exc:
            if str(exc).startswith("Empty CSV file"):
                return  # no header, no rows: contributes nothing
            raise _arrow_error(exc, url, storage_options) from None


def _arrow_batches(handle: Any, fmt: str, source: SourceSpec) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        yield from pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS)
    elif fmt == "jsonl":
        reader = pajson.open_json(handle, read_options=pajson.ReadOptions(block_size=_BLOCK_BYTES))
        yield from reader
    else:
        # Overridden columns are read as text and converted in frames.py, which names bad values.
        types = {col: pa.string() for col in source.schema}
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        yield from reader


def _rebatch(
    batches: Iterator[pa.RecordBatch], schema: Mapping[str, str], url: str
) -> Iterator[pd.DataFrame]:
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        while rows >= BATCH_ROWS:
            table = pa.Table.from_batches(pending)
            yield from_arrow(table.slice(0, BATCH_ROWS), schema, url)
            rest = table.slice(BATCH_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield from_arrow(pa.Table.from_batches(pending), schema, url)


_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): .*?conversion error to (\w+): invalid value '(.*)'"
)


def _arrow_error(exc: pa.ArrowInvalid, url: str, storage_options: Mapping[str, Any]) -> DataError:
    text = str(exc).splitlines()[0]
    match = _CSV_CONVERSION.search(text)
    if match:
        index = int(match[1])
        with fsspec.open(
            url, "rb", compression="infer", **source_options(url, storage_options)
        ) as f:
            names = pacsv.open_csv(f).schema.names
        name = names[index] if index < len(names) else f"#{index + 1}"
        return ColumnError(
            f"column {name!r} in {url}: text in a numeric column (e.g. {match[3]!r}) after the "
            f"first rows were read as {match[2]}; declare it in source.schema"
        )
    return DataError(f"cannot read {url}: {text}")
