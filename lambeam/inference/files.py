"""A model version's serving files: what a model function's instance loads, without the database.

    directory = write_model_files(version, cache / "models")   # once per version, by the gateway
    runner, signature = load_model_files(directory)            # in the instance, at init

The directory holds `model.json` (the version's ref, signature, runner flavour and what that
flavour needs), the ONNX graph or the skops pipeline the runner serves, and `handler.py`, the
module the instance imports as its handler (so the model loads during the instance's init, as a
Lambda function's module-level code does). A directory is named after the served artifact's
digest and written beside its final name, then renamed into place: a reader never sees half of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambeam.inference.runner import ModelRunner, serves_onnx
from lambeam.registry import ModelVersion
from lambeam.registry.signature import Signature
from lambeam.storage.directories import write_once

__all__ = ["HANDLER", "load_model_files", "write_model_files"]

HANDLER = "handler.handle"  # the instance's handler, as FunctionSpec.handler names it
_META = "model.json"
_HANDLER_SOURCE = '''"""Written by lambeam: a model function's handler. The model loads when this is imported."""

from pathlib import Path

from lambeam.inference.handler import BatchHandler

handle = BatchHandler.from_directory(Path(__file__).resolve().parent)
'''


def write_model_files(version: ModelVersion, cache_dir: Path, prefer_onnx: bool = True) -> Path:
    """The serving directory of `version` under `cache_dir`, written once.

    ONNX Runtime serves when the graph is trusted, scikit-learn otherwise (see `load_runner`).
    """
    onnx = serves_onnx(version, prefer_onnx)
    digest = version.onnx_digest if onnx else version.skops_digest
    final = cache_dir / f"{'onnx' if onnx else 'sklearn'}-{digest}"
    if final.is_dir():
        return final
    meta: dict[str, Any] = {
        "ref": version.ref,
        "runner": "onnx" if onnx else "sklearn",
        "signature": version.signature.to_dict(),
        "trusted_types": list(version.trusted_types),
    }
    if onnx:
        from lambeam.inference.onnx_runner import onnx_classes  # the gateway's, on first deploy

        meta["input_type"] = version.onnx_check.get("input_type") or "double"
        meta["classes"] = onnx_classes(version)
        artifact = ("model.onnx", version.onnx_bytes() or b"")
    else:
        artifact = ("model.skops", version.skops_bytes())

    def fill(scratch: Path) -> None:
        (scratch / artifact[0]).write_bytes(artifact[1])
        (scratch / _META).write_text(json.dumps(meta))
        (scratch / "handler.py").write_text(_HANDLER_SOURCE)

    return write_once(final, fill)


def load_model_files(directory: Path) -> tuple[ModelRunner, Signature]:
    """The runner a serving directory describes, and the model's signature."""
    meta = json.loads((directory / _META).read_text())
    signature = Signature.from_stored(meta["signature"])  # once per load, never per request
    runner: ModelRunner
    if meta["runner"] == "onnx":
        from lambeam.inference.onnx_runner import OnnxRunner

        runner = OnnxRunner(
            (directory / "model.onnx").read_bytes(),
            signature,
            input_type=meta["input_type"],
            classes=meta["classes"],
            model=meta["ref"],
        )
    else:
        from lambeam.inference.sklearn_runner import SklearnRunner
        from lambeam.storage.trusted import load_pipeline

        pipeline = load_pipeline(
            (directory / "model.skops").read_bytes(),
            meta["trusted_types"],
            what=f"model {meta['ref']}",
        )
        runner = SklearnRunner(pipeline, model=meta["ref"])
    return runner, signature
