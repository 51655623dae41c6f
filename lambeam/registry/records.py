"""What the registry hands out: model versions and model summaries, as plain records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lambeam.registry.signature import Signature
from lambeam.storage import ArtifactStore
from lambeam.storage.trusted import load_pipeline

__all__ = ["ModelSummary", "ModelVersion", "RegisterTiming"]

_ONNX_WORDS = {
    "trusted": "trusted (served by ONNX Runtime)",
    "disagrees": "disagrees with scikit-learn on held-out rows (served by scikit-learn)",
    "unconvertible": "unconvertible (served by scikit-learn)",
    "unchecked": "unchecked: no held-out rows to compare (served by scikit-learn)",
}


@dataclass(frozen=True)
class RegisterTiming:
    """Where registering a version spent its time, in seconds (what `train` prints)."""

    skops_s: float  # dumping the pipeline with skops and auditing its types
    onnx_convert_s: float  # converting to ONNX and loading the graph in ONNX Runtime
    onnx_check_s: float  # running the graph and scikit-learn on held-out rows, comparing
    store_s: float  # writing the artifacts and the database row
    total_s: float

    def to_dict(self) -> dict[str, float]:
        """The parts as a JSON-able dict."""
        return {
            "skops_s": self.skops_s,
            "onnx_convert_s": self.onnx_convert_s,
            "onnx_check_s": self.onnx_check_s,
            "store_s": self.store_s,
            "total_s": self.total_s,
        }


@dataclass
class ModelVersion:
    """One immutable, numbered version of a model, with readers for its artifacts."""

    name: str
    number: int
    task: str
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    signature: Signature
    lineage: dict[str, Any]
    onnx_status: str
    onnx_check: dict[str, Any]
    skops_digest: str
    onnx_digest: str | None
    trusted_types: list[str]
    aliases: list[str]
    created_at: datetime
    created_by: str
    duration_s: float
    dataset_version_id: int | None
    dataset: str | None = None
    store: ArtifactStore | None = field(default=None, repr=False, compare=False)
    # Set on the record register_model_version returns; None on a version read back (it is not
    # stored, so it is not in to_dict either: a version reads the same however it was obtained).
    timing: RegisterTiming | None = field(default=None, compare=False)

    @property
    def ref(self) -> str:
        """The version's name, `model:number`."""
        return f"{self.name}:{self.number}"

    @property
    def onnx_summary(self) -> str:
        """The ONNX status in words, with why where it is not trusted, and what a function
        serving this version runs."""
        words = _ONNX_WORDS.get(self.onnx_status, self.onnx_status)
        why = _why_not_trusted(self.onnx_status, self.onnx_check or {})
        return (
            f"{words.removesuffix(' (served by scikit-learn)')}: {why} (served by scikit-learn)"
            if why
            else words
        )

    def load(self) -> Any:
        """The fitted scikit-learn Pipeline, loaded from skops with the recorded trusted types."""
        return load_pipeline(self.skops_bytes(), self.trusted_types, what=f"model {self.ref}")

    def skops_bytes(self) -> bytes:
        """The pipeline's skops file as stored (verified against its digest); `load` reads it."""
        return self._store().get_bytes(self.skops_digest)

    def onnx_bytes(self) -> bytes | None:
        """The ONNX graph, or None when the pipeline did not convert.

        Check `onnx_status == "trusted"` before serving it instead of the pipeline.
        """
        if self.onnx_digest is None:
            return None
        return self._store().get_bytes(self.onnx_digest)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the record (for `--json` output and the REST API)."""
        return {
            "name": self.name,
            "number": self.number,
            "ref": self.ref,
            "task": self.task,
            "estimator": self.estimator,
            "params": self.params,
            "metrics": self.metrics,
            "signature": self.signature.to_dict(),
            "lineage": self.lineage,
            "onnx_status": self.onnx_status,
            "onnx_check": self.onnx_check,
            "skops_digest": self.skops_digest,
            "onnx_digest": self.onnx_digest,
            "trusted_types": list(self.trusted_types),
            "aliases": list(self.aliases),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "duration_s": self.duration_s,
            "dataset_version_id": self.dataset_version_id,
            "dataset": self.dataset,
        }

    def _store(self) -> ArtifactStore:
        if self.store is None:
            raise ValueError(f"model {self.ref} was built without an artifact store")
        return self.store


@dataclass
class ModelSummary:
    """One line of `lambeam models ls`: a model, its newest version and its aliases."""

    name: str
    description: str
    latest: int | None  # the newest version's number (None before the first version)
    versions: int  # how many versions there are
    aliases: dict[str, int]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the summary."""
        return {
            "name": self.name,
            "description": self.description,
            "latest": self.latest,
            "versions": self.versions,
            "aliases": dict(self.aliases),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _why_not_trusted(status: str, check: dict[str, Any]) -> str | None:
    """What the ONNX check found, in one clause: which outputs differ, on how many rows, by how
    much against the tolerance; or why the graph did not convert."""
    if status == "unconvertible":
        error = str(check.get("error") or "").strip()
        return error.splitlines()[0][:200] if error else None
    if status != "disagrees":
        return None
    rows = int(check.get("rows") or 0)
    labels = check.get("label_agreement")
    parts = []
    if labels is not None and rows:
        parts.append(f"labels agree on {round(labels * rows)} of {rows} rows")
    if check.get("error"):
        parts.append(str(check["error"]).strip().splitlines()[0][:200])
    diff = check.get("max_abs_diff")
    tolerance = check.get("tolerance") or {}
    if diff is not None and labels == 1.0:
        allowed = f"{tolerance.get('atol', 0):g} + {tolerance.get('rtol', 0):g} x |value|"
        parts.append(f"outputs differ by up to {diff:.3g} (allowed {allowed})")
    return "; ".join(parts) or None
