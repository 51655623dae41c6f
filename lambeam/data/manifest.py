"""A dataset version's manifest: the JSON, in the artifact store, that lists its artifacts by digest.

    {
      "format": 1,
      "pipeline": "penguins",
      "content_hash": "…",
      "label": "species" | null,
      "input_columns": [{"name": "island", "type": "string", "categories": [...] | null,
                         "nullable": true, "greater_than": -1.0}, …],   # the last two optional
      "features": [{"name": "island", "kind": "dense", "columns": ["island__Biscoe", …]},
                   {"name": "text", "kind": "sparse", "width": 1000}],
      "shards": [{"digest": "…", "rows": 123, "train_rows": 98, "test_rows": 25}, …],
      "transform": "<digest of the fitted transform, skops>",
      "transform_types": ["lambeam.data.transformers.DeriveColumns", …],
      "stats": "<digest of the analyzers' statistics, JSON>",
      "profile": {"column": {"count": …, "missing": …, …}, …},
      "raw_sample": "<digest of up to 1,000 raw test rows, Parquet>" | null
    }

In memory it is a `DatasetManifest`. Its bytes (`to_json`) are what the version's row points at,
so their form never changes for a given content; `from_json` also reads manifests written before
`transform_types`, `profile` or `raw_sample` were recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lambeam.data.inputs import ServedColumn

__all__ = ["MANIFEST_FORMAT", "DatasetManifest"]

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class DatasetManifest:
    """What a dataset version holds: its served input columns, feature layout, shards (each a
    Parquet blob with its split sizes), fitted transform, statistics, profile and raw sample."""

    pipeline: str
    content_hash: str
    label: str | None
    input_columns: list[ServedColumn]
    features: list[dict[str, Any]]  # {"name", "kind": "dense", "columns"} or {…, "width"}
    shards: list[dict[str, Any]]  # {"digest", "rows", "train_rows", "test_rows"}
    transform: str
    stats: str
    transform_types: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    raw_sample: str | None = None
    format: int = MANIFEST_FORMAT

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DatasetManifest:
        """The manifest `doc` (as stored) describes."""
        return cls(
            pipeline=doc["pipeline"],
            content_hash=doc["content_hash"],
            label=doc.get("label"),
            input_columns=[ServedColumn.from_dict(c) for c in doc["input_columns"]],
            features=list(doc["features"]),
            shards=list(doc["shards"]),
            transform=doc["transform"],
            stats=doc["stats"],
            transform_types=list(doc.get("transform_types", [])),
            profile=dict(doc.get("profile", {})),
            raw_sample=doc.get("raw_sample"),
            format=doc.get("format", MANIFEST_FORMAT),
        )

    @classmethod
    def from_json(cls, data: bytes) -> DatasetManifest:
        """The manifest stored as `data`."""
        return cls.from_dict(json.loads(data))

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "format": self.format,
            "pipeline": self.pipeline,
            "content_hash": self.content_hash,
            "label": self.label,
            "input_columns": [column.to_dict() for column in self.input_columns],
            "features": self.features,
            "shards": self.shards,
            "transform": self.transform,
            "transform_types": self.transform_types,
            "stats": self.stats,
            "profile": self.profile,
            "raw_sample": self.raw_sample,
        }

    def to_json(self) -> bytes:
        """The stored bytes (the content-addressed blob the version's row names)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1).encode()

    @property
    def train_rows(self) -> int:
        """Rows in the train split."""
        return sum(shard.get("train_rows", 0) for shard in self.shards)

    @property
    def test_rows(self) -> int:
        """Rows in the test split."""
        return sum(shard.get("test_rows", 0) for shard in self.shards)
