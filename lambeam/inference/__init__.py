"""Model inference: what runs inside a model function's instance, and knows nothing of HTTP.

    runner = load_runner(get_model_version(db, store, "churn@prod"))   # ONNX when trusted
    request = parse_request(decode_body(raw_body), version.signature)   # 400 naming the field
    predictions = runner.predict(request.frame, probabilities=True)
    body = format_response(
        predictions, probabilities=request.probabilities, model=runner.model, runner=runner.kind
    )

A model function's instance runs `BatchHandler` on the directory the gateway wrote
(`lambeam.invoke.write_model_files`; read here by `load_model_files`), and gets its requests as a
micro-batch (`wire.encode_requests`, put together by the gateway's `lambeam.invoke.MicroBatcher`).
The gateway's side (batching, payload limits, writing serving files) lives in lambeam.invoke.
Names are imported on first use: the gateway needs the wire format, not scikit-learn and ONNX
Runtime, before it listens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambeam._lazy import first_use

if TYPE_CHECKING:
    from lambeam.inference.errors import InvalidInputError
    from lambeam.inference.files import MODEL_META, load_model_files
    from lambeam.inference.handler import BatchHandler, predict_together
    from lambeam.inference.onnx_runner import OnnxRunner
    from lambeam.inference.predictions import Predictions
    from lambeam.inference.request import (
        MAX_ROWS,
        ParsedBatch,
        ParsedRequest,
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
    "INVALID",
    "MAX_ROWS",
    "MODEL_META",
    "BatchHandler",
    "InvalidInputError",
    "ModelRunner",
    "OnnxRunner",
    "ParsedBatch",
    "ParsedRequest",
    "Predictions",
    "SklearnRunner",
    "WireError",
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
]

_HOMES = {
    "InvalidInputError": "errors",
    "MODEL_META": "files",
    "load_model_files": "files",
    "BatchHandler": "handler",
    "predict_together": "handler",
    "OnnxRunner": "onnx_runner",
    "Predictions": "predictions",
    "MAX_ROWS": "request",
    "ParsedBatch": "request",
    "ParsedRequest": "request",
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
