"""A model version's serving files, written by the gateway for a model function's instances.

    directory = write_model_files(version, cache / "models")   # once per version
    FunctionSpec(handler=HANDLER, code_dir=directory, ...)      # the instance imports handler.py

The directory holds `model.json` (the version's ref, signature, runner flavour and what that
flavour needs; read in the instance by `lambeam.inference.load_model_files`), the ONNX graph or
the skops pipeline the runner serves, and `handler.py`, the module the instance imports as its
handler (so the model loads during the instance's init, as a Lambda function's module-level code
does). A directory is named after the served artifact's digest and written beside its final
name, then renamed into place: a reader never sees half of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambeam.inference.files import MODEL_META
from lambeam.inference.runner import serves_onnx
from lambeam.registry import ModelVersion
from lambeam.storage.directories import write_once

__all__ = ["HANDLER", "write_model_files"]

HANDLER = "handler.handle"  # the instance's handler, as FunctionSpec.handler names it
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
        (scratch / MODEL_META).write_text(json.dumps(meta))
        (scratch / "handler.py").write_text(_HANDLER_SOURCE)

    return write_once(final, fill)
