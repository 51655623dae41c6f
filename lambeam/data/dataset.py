"""Dataset versions: the immutable output of a pipeline run, and how training reads one.

A dataset version is one `dataset_versions` row pointing at a manifest (JSON, in the artifact
store; see data/manifest.py) that lists everything else by digest. The row also keeps what a
listing shows (label, split sizes, profile, served input columns), so that listing versions reads
no manifest; a row written before it kept them (migration 0005) reads its manifest instead.

Each shard is Parquet with a `__split` column ("train"/"test"), the label column (raw values) when
there is one, the split key column (raw values, never a feature: for joining rows back) when there
is one, one float64 column per dense feature, and for each sparse block two list columns
`<block>.indices` (int32) and `<block>.values` (float64), one row's non-zeros each.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from sqlalchemy import func, select

from lambeam.data.inputs import ServedColumn
from lambeam.data.manifest import DatasetManifest
from lambeam.errors import DatasetNotFoundError, UntrustedModelError
from lambeam.storage import ArtifactStore, Database, as_utc
from lambeam.storage.schema import DatasetVersionRow
from lambeam.storage.trusted import is_trusted, load_pipeline

__all__ = [
    "SPLIT_COLUMN",
    "DatasetVersion",
    "get_dataset_version",
    "list_dataset_versions",
    "parse_dataset_ref",
    "summary_columns",
]

SPLIT_COLUMN = "__split"


@dataclass
class DatasetVersion:
    """A dataset version's record, with readers for its manifest and artifacts."""

    id: int
    pipeline: str
    number: int
    content_hash: str
    spec_hash: str
    rows: int
    inputs: list[dict[str, Any]]
    spec: dict[str, Any]
    runner: str
    duration_s: float
    created_at: datetime
    created_by: str
    label: str | None
    train_rows: int
    test_rows: int
    profile: dict[str, Any]
    input_columns: list[ServedColumn]  # the raw columns the fitted transform takes
    manifest_digest: str
    store: ArtifactStore = field(repr=False)
    _manifest: DatasetManifest | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """The version's name, `pipeline:number`."""
        return f"{self.pipeline}:{self.number}"

    @property
    def manifest(self) -> DatasetManifest:
        """The version's manifest, read from the artifact store on first use."""
        if self._manifest is None:
            self._manifest = DatasetManifest.from_json(self.store.get_bytes(self.manifest_digest))
        return self._manifest

    def feature_names(self) -> list[str]:
        """Names of the feature matrix's columns, in order."""
        names: list[str] = []
        for block in self.manifest.features:
            if block["kind"] == "dense":
                names.extend(block["columns"])
            else:
                names.extend(f"{block['name']}[{i}]" for i in range(block["width"]))
        return names

    def frame(self, split: str | None = None) -> pd.DataFrame:
        """All shards as one DataFrame (the stored columns), optionally one split only."""
        tables = [
            pq.read_table(io.BytesIO(self.store.get_bytes(shard["digest"])))
            for shard in self.manifest.shards
        ]
        table = pa.concat_tables(tables) if tables else pa.table({})
        frame = table.to_pandas()
        return _split_rows(frame, split) if split is not None else frame

    def features(self, split: str | None = None) -> tuple[Any, np.ndarray | None]:
        """The feature matrix X (dense ndarray, or CSR when a block is sparse) and labels y."""
        frame = self.frame(split)
        return self.matrix(frame), self.labels(frame)

    def split_features(self) -> dict[str, tuple[Any, np.ndarray | None]]:
        """(X, y) of the train and the test split, reading the shards once."""
        frame = self.frame()
        parts = {}
        for split in ("train", "test"):
            rows = _split_rows(frame, split)
            parts[split] = (self.matrix(rows), self.labels(rows))
        return parts

    def matrix(self, frame: pd.DataFrame) -> Any:
        """Assemble the feature matrix from stored shard columns, in feature order."""
        parts: list[Any] = []
        sparse = False
        for block in self.manifest.features:
            if block["kind"] == "dense":
                parts.append(frame[block["columns"]].to_numpy(dtype=np.float64))
            else:
                sparse = True
                parts.append(_csr(frame, block["name"], block["width"]))
        if not parts:
            return np.empty((len(frame), 0))
        if sparse:
            return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")
        return np.hstack(parts)

    def labels(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The label column of a shard frame, or None for an unlabelled dataset."""
        return None if self.label is None else frame[self.label].to_numpy()

    def transform(self) -> Any:
        """The fitted scikit-learn transform, loaded from skops with its recorded trusted types."""
        recorded = list(self.manifest.transform_types)
        declared = [step["function"] for step in self.spec.get("steps", []) if "function" in step]
        refused = [name for name in recorded if not is_trusted(name, declared)]
        if refused:
            raise UntrustedModelError(
                f"dataset version {self.ref}: its transform records untrusted types {refused}"
            )
        data = self.store.get_bytes(self.manifest.transform)
        return load_pipeline(data, recorded, what=f"dataset version {self.ref}'s transform")

    def stats(self) -> dict[str, Any]:
        """The analyzers' full-pass statistics the transform was built from."""
        return json.loads(self.store.get_bytes(self.manifest.stats))

    def raw_sample(self) -> pd.DataFrame | None:
        """Up to 1,000 raw rows of the test split (inputs of the transform), or None."""
        digest = self.manifest.raw_sample
        if not digest:
            return None
        return pq.read_table(io.BytesIO(self.store.get_bytes(digest))).to_pandas()


def _csr(frame: pd.DataFrame, name: str, width: int) -> sp.csr_matrix:
    indices = frame[f"{name}.indices"]
    values = frame[f"{name}.values"]
    lengths = np.fromiter((len(v) for v in indices), dtype=np.int64, count=len(indices))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    flat_idx = (
        np.concatenate([np.asarray(v, dtype=np.int32) for v in indices])
        if len(indices)
        else np.empty(0, np.int32)
    )
    flat_val = (
        np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
        if len(values)
        else np.empty(0)
    )
    return sp.csr_matrix((flat_val, flat_idx, indptr), shape=(len(frame), width))


def parse_dataset_ref(ref: str) -> tuple[str, int | None]:
    """`pipeline` (its latest version) or `pipeline:N` into (pipeline, N or None)."""
    name, sep, number = ref.partition(":")
    if not name:
        raise DatasetNotFoundError(
            f"{ref!r} is not a dataset reference; use PIPELINE or PIPELINE:N"
        )
    if not sep:
        return name, None
    if not number.isdigit() or int(number) < 1:
        raise DatasetNotFoundError(f"{ref!r}: the version after ':' must be a number from 1")
    return name, int(number)


def get_dataset_version(db: Database, store: ArtifactStore, ref: str) -> DatasetVersion:
    """The dataset version `pipeline:N`, or the newest of `pipeline`."""
    pipeline, number = parse_dataset_ref(ref)
    with db.session() as session:
        query = select(DatasetVersionRow).where(DatasetVersionRow.pipeline == pipeline)
        if number is None:
            latest = select(func.max(DatasetVersionRow.number)).where(
                DatasetVersionRow.pipeline == pipeline
            )
            query = query.where(DatasetVersionRow.number == latest.scalar_subquery())
        else:
            query = query.where(DatasetVersionRow.number == number)
        row = session.scalars(query).first()
    if row is None:
        what = f"pipeline {pipeline!r} has no dataset version" + (f" {number}" if number else "")
        raise DatasetNotFoundError(f"{what}; run `lambeam pipeline run {pipeline}` first")
    return _from_row(row, store)


def list_dataset_versions(
    db: Database, store: ArtifactStore, pipeline: str | None = None
) -> list[DatasetVersion]:
    """Every dataset version (of one pipeline, if named), oldest first."""
    with db.session() as session:
        query = select(DatasetVersionRow).order_by(
            DatasetVersionRow.pipeline, DatasetVersionRow.number
        )
        if pipeline is not None:
            query = query.where(DatasetVersionRow.pipeline == pipeline)
        rows = list(session.scalars(query))
    return [_from_row(row, store) for row in rows]


def summary_columns(manifest: DatasetManifest) -> dict[str, Any]:
    """What a dataset version's row keeps of its manifest, so that a listing reads no manifest."""
    return {
        "label": manifest.label,
        "train_rows": manifest.train_rows,
        "test_rows": manifest.test_rows,
        "profile": manifest.profile,
        "input_columns": [column.to_dict() for column in manifest.input_columns],
    }


def _from_row(
    row: DatasetVersionRow, store: ArtifactStore, manifest: DatasetManifest | None = None
) -> DatasetVersion:
    """The version a row records; its manifest is read only for a row from before migration
    0005, which lacks the summary columns (or when it is given: the run that just wrote it)."""
    if row.profile is None and manifest is None:
        manifest = DatasetManifest.from_json(store.get_bytes(row.manifest))
    if manifest is not None:
        summary = summary_columns(manifest)
    else:
        summary = {
            "label": row.label,
            "train_rows": row.train_rows,
            "test_rows": row.test_rows,
            "profile": row.profile,
            "input_columns": row.input_columns,
        }
    return DatasetVersion(
        id=row.id,
        pipeline=row.pipeline,
        number=row.number,
        content_hash=row.content_hash,
        spec_hash=row.spec_hash,
        rows=row.rows,
        inputs=list(row.inputs),
        spec=dict(row.spec),
        runner=row.runner,
        duration_s=row.duration_s,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        label=summary["label"],
        train_rows=int(summary["train_rows"] or 0),
        test_rows=int(summary["test_rows"] or 0),
        profile=dict(summary["profile"] or {}),
        input_columns=[ServedColumn.from_dict(c) for c in summary["input_columns"] or []],
        manifest_digest=row.manifest,
        store=store,
        _manifest=manifest,
    )


def _split_rows(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split ("train" or "test"), renumbered from 0."""
    return frame[frame[SPLIT_COLUMN] == split].reset_index(drop=True)
