"""A model version's serving files, as a model function's instance reads them at init.

    runner, signature = load_model_files(directory)

The gateway writes the directory (`lambeam.invoke.write_model_files`): `model.json` (the
version's ref, signature, runner flavour and what that flavour needs) beside the ONNX graph or
the skops pipeline the runner serves. Reading it needs no database.
"""

from __future__ import annotations

import json
from pathlib import Path

from lambeam.inference.runner import ModelRunner
from lambeam.registry.signature import Signature

__all__ = ["MODEL_META", "load_model_files"]

MODEL_META = "model.json"  # the directory's description, written by the gateway


def load_model_files(directory: Path) -> tuple[ModelRunner, Signature]:
    """The runner a serving directory describes, and the model's signature."""
    meta = json.loads((directory / MODEL_META).read_text())
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
