"""The write stage: apply the fitted transform to a batch and store it as one Parquet shard.

A shard goes to the artifact store under its sha256 (so nothing half-written is ever referenced);
what the driver needs comes back as small dicts. Each written row is also hashed, and those hashes
are summed per split modulo 2**64: an order-independent fingerprint of the dataset's content.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from lambeam.data.dataset import SPLIT_COLUMN
from lambeam.storage import ArtifactStore

__all__ = ["SAMPLE_ROWS", "encode_shard", "parquet_bytes", "sample_rows", "smallest", "store_shard"]

SAMPLE_ROWS = 1000


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet bytes, written the same way every time."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", store_schema=False)
    return sink.getvalue()


def encode_shard(
    features: Any, layout: list[dict[str, Any]], test: np.ndarray, passed: dict[str, pd.Series]
) -> tuple[pa.Table, dict[str, int]]:
    """The shard table for one transformed batch, and its per-split row-hash sums and counts.

    `passed` are raw columns stored as they are (the label, and the split key when there is one).
    """
    rows = test.shape[0]
    split = np.where(test, "test", "train").astype(object)
    columns: dict[str, Any] = {SPLIT_COLUMN: pa.array(split, pa.string())}
    row_hash = np.zeros(rows, dtype=np.uint64)
    for name, values in passed.items():
        columns[name] = pa.array(values.to_numpy(), from_pandas=True)
        row_hash = row_hash * np.uint64(31) + _hash(values)
    matrix: Any = (
        features.tocsc() if sp.issparse(features) else np.asarray(features, dtype=np.float64)
    )
    start = 0
    for block in layout:
        if block["kind"] == "dense":
            width = len(block["columns"])
            part = matrix[:, start : start + width]
            dense: Any = part.toarray() if sp.issparse(part) else part
            for i, name in enumerate(block["columns"]):
                columns[name] = pa.array(np.ascontiguousarray(dense[:, i], dtype=np.float64))
            row_hash += _hash(pd.DataFrame(dense)) if width else 0
        else:
            width = block["width"]
            part = sp.csr_matrix(matrix[:, start : start + width])
            part.sort_indices()
            offsets = pa.array(part.indptr.astype(np.int32))
            columns[f"{block['name']}.indices"] = pa.ListArray.from_arrays(
                offsets, pa.array(part.indices.astype(np.int32))
            )
            columns[f"{block['name']}.values"] = pa.ListArray.from_arrays(
                offsets, pa.array(part.data.astype(np.float64))
            )
            row_hash += _sparse_hash(part)
        start += width
    row_hash = row_hash * np.uint64(0x9E3779B97F4A7C15) + test.astype(np.uint64)
    sums = {
        "train_rows": int((~test).sum()),
        "test_rows": int(test.sum()),
        "train_hash": int(row_hash[~test].sum(dtype=np.uint64)),
        "test_hash": int(row_hash[test].sum(dtype=np.uint64)),
    }
    return pa.table(columns), sums


def store_shard(store: ArtifactStore, table: pa.Table, sums: dict[str, int]) -> dict[str, Any]:
    """Put the shard in the store; the dict the manifest lists it with (plus its hash sums)."""
    digest = store.put_bytes(parquet_bytes(table))
    return {"digest": digest, "rows": table.num_rows, **sums}


def sample_rows(raw: pd.DataFrame, hashes: np.ndarray, test: np.ndarray) -> pd.DataFrame:
    """The batch's test rows with the smallest split hashes (at most SAMPLE_ROWS), hash attached."""
    picked = raw.loc[test].copy()
    picked["__lambeam_hash"] = hashes[test]
    picked["__lambeam_tie"] = pd.util.hash_pandas_object(
        picked.drop(columns="__lambeam_hash"), index=False
    ).to_numpy()
    return smallest(picked)


def smallest(frame: pd.DataFrame) -> pd.DataFrame:
    """The SAMPLE_ROWS rows with the smallest (hash, whole-row hash): independent of row order."""
    ordered = frame.sort_values(["__lambeam_hash", "__lambeam_tie"], kind="mergesort")
    return ordered.head(SAMPLE_ROWS).reset_index(drop=True)


def _hash(values: pd.Series | pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64)


def _sparse_hash(part: sp.csr_matrix) -> np.ndarray:
    """Per row, the sum of hashes of its (column, value) pairs; rows without entries hash to 0."""
    rows = part.shape[0]
    if part.nnz == 0:
        return np.zeros(rows, dtype=np.uint64)
    pairs = pd.DataFrame({"i": part.indices, "v": part.data})
    entry = _hash(pairs)
    out = np.zeros(rows, dtype=np.uint64)
    row_of = np.repeat(np.arange(rows), np.diff(part.indptr))
    np.add.at(out, row_of, entry)
    return out
