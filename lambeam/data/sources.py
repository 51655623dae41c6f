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
from lambeam.data.numbers import ReadCounts, Rows, Typos, parse_numbers, refuse_typos
from lambeam.data.spec import SourceSpec
from lambeam.errors import ColumnError, DataError, SourceNotFoundError

__all__ = ["BATCH_ROWS", "expand_source", "hash_inputs", "read_batches", "source_options"]

BATCH_ROWS = 65_536
_BLOCK_BYTES = 8 << 20
# Lines before a file's first row, to name rows by line (None: Parquet has no lines).
_HEADER_LINES: dict[str, int | None] = {"csv": 1, "jsonl": 0, "parquet": None}


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
) -> Iterator[tuple[pd.DataFrame, ReadCounts]]:
    """Canonical frames of up to BATCH_ROWS rows each, in file order, each with what reading it
    saw (values its `errors = "coerce"` columns made null, its columns' Typos)."""
    fmt = source.format_of(url)
    with fsspec.open(
        url, "rb", compression="infer", **source_options(url, storage_options)
    ) as handle:
        try:
            yield from _rebatch(_arrow_batches(handle, fmt, source), source, url, fmt)
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
    batches: Iterator[pa.RecordBatch], source: SourceSpec, url: str, fmt: str
) -> Iterator[tuple[pd.DataFrame, ReadCounts]]:
    header = _HEADER_LINES.get(fmt)
    done = 0

    def convert(table: pa.Table) -> tuple[pd.DataFrame, ReadCounts]:
        rows = Rows(url, done, header)
        return from_arrow(table, source.schema, rows, source.coerce, infer_text=fmt == "csv")

    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        while rows >= BATCH_ROWS:
            table = pa.Table.from_batches(pending)
            yield convert(table.slice(0, BATCH_ROWS))
            done += BATCH_ROWS
            rest = table.slice(BATCH_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield convert(pa.Table.from_batches(pending))


_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): .*?conversion error to (\w+): invalid value '(.*)'"
)


def _arrow_error(exc: pa.ArrowInvalid, url: str, storage_options: Mapping[str, Any]) -> DataError:
    text = str(exc).splitlines()[0]
    match = _CSV_CONVERSION.search(text)
    if not match:
        return DataError(f"cannot read {url}: {text}")
    # pyarrow took the column's type from its first block; the whole column, read as text,
    # is judged by the same rule as a column whose bad value sits in that first block.
    index = int(match[1])
    options = source_options(url, storage_options)
    with fsspec.open(url, "rb", compression="infer", **options) as f:
        names = pacsv.open_csv(f).schema.names
    if index >= len(names):
        return ColumnError(f"column #{index + 1} in {url}: {match[2]} conversion failed ({text})")
    name = names[index]
    with fsspec.open(url, "rb", compression="infer", **options) as f:
        column = pacsv.read_csv(
            f,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                include_columns=[name], column_types={name: pa.string()}, strings_can_be_null=True
            ),
        ).column(0)
    strings = column.to_numpy(zero_copy_only=False).astype(object)
    rows = Rows(url, 0, _HEADER_LINES["csv"])
    refuse_typos(name, Typos.of_text(strings, rows))
    _, bad = parse_numbers(strings)
    if not bad.any():  # e.g. whole numbers in the first block, then 1.5: all numbers
        return ColumnError(
            f"column {name!r} in {url}: read as {match[2]} from its first rows, then "
            f'{match[3]!r}; declare it {name} = "number" in source.schema'
        )
    first = int(bad.argmax())
    return ColumnError(
        f"column {name!r} in {url}: numbers in its first rows, then text (e.g. {strings[first]!r} "
        f'on {rows.name(first)}); declare its type in source.schema: {name} = "string" keeps it '
        f'text, {name} = {{ type = "number", errors = "coerce" }} makes the text null'
    )
