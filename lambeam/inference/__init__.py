"""Model inference: the transport-independent core a model function serves with.

    runner = load_runner(get_model_version(db, store, "churn@prod"))   # ONNX when trusted
    check_payload_size(len(raw_body))                                   # 413 past 6 MB
    request = parse_request(decode_body(raw_body), version.signature)   # 400 naming the field
    predictions = runner.predict(request.frame, probabilities=True)
    body = format_response(
        predictions, probabilities=request.probabilities, model=runner.model, runner=runner.kind
    )

A model function's instance runs `BatchHandler` on the directory `write_model_files` wrote, and
gets its requests as a micro-batch (`wire.encode_requests`, put together by a `MicroBatcher` in
the gateway). None of it knows about HTTP. Names are imported on first use: the gateway needs
the batcher and the wire format, not scikit-learn and ONNX Runtime, before it listens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambeam._lazy import first_use

if TYPE_CHECKING:
    from lambeam.inference.batching import MicroBatcher
    from lambeam.inference.errors import InvalidInputError, PayloadTooLargeError
    from lambeam.inference.files import HANDLER, load_model_files, write_model_files
    from lambeam.inference.handler import BatchHandler, predict_together
    from lambeam.inference.onnx_runner import OnnxRunner
    from lambeam.inference.predictions import Predictions
    from lambeam.inference.request import (
        MAX_PAYLOAD_BYTES,
        MAX_ROWS,
        ParsedBatch,
        ParsedRequest,
        check_payload_size,
        decode_body,
        parse_batch,
        parse_request,
    )
    from lambeam.inference.response import format_response
    from lambeam.inference.runner import ModelRunner, load_runner
    from lambeam.inference.sklearn_runner import SklearnRunner
    from lambeam.inference.wire import (
        FAILED,
        INVALID,
        WireError,
        decode_replies,
        decode_requests,
        encode_replies,
        encode_requests,
    )

__all__ = [
    "FAILED",
    "HANDLER",
    "INVALID",
    "MAX_PAYLOAD_BYTES",
    "MAX_ROWS",
    "BatchHandler",
    "InvalidInputError",
    "MicroBatcher",
    "ModelRunner",
    "OnnxRunner",
    "ParsedBatch",
    "ParsedRequest",
    "PayloadTooLargeError",
    "Predictions",
    "SklearnRunner",
    "WireError",
    "check_payload_size",
    "decode_body",
    "decode_replies",
    "decode_requests",
    "encode_replies",
    "encode_requests",
    "format_response",
    "load_model_files",
    "load_runner",
    "parse_batch",
    "parse_request",
    "predict_together",
    "write_model_files",
]

_HOMES = {
    "MicroBatcher": "batching",
    "InvalidInputError": "errors",
    "PayloadTooLargeError": "errors",
    "HANDLER": "files",
    "load_model_files": "files",
    "write_model_files": "files",
    "BatchHandler": "handler",
    "predict_together": "handler",
    "OnnxRunner": "onnx_runner",
    "Predictions": "predictions",
    "MAX_PAYLOAD_BYTES": "request",
    "MAX_ROWS": "request",
    "ParsedBatch": "request",
    "ParsedRequest": "request",
    "check_payload_size": "request",
    "decode_body": "request",
    "parse_batch": "request",
    "parse_request": "request",
    "format_response": "response",
    "ModelRunner": "runner",
    "load_runner": "runner",
    "SklearnRunner": "sklearn_runner",
    "FAILED": "wire",
    "INVALID": "wire",
    "WireError": "wire",
    "decode_replies": "wire",
    "decode_requests": "wire",
    "encode_replies": "wire",
    "encode_requests": "wire",
}

__getattr__ = first_use(__name__, _HOMES)
