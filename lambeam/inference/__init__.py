"""Model inference: the transport-independent core a model function serves with.

    runner = load_runner(get_model_version(db, store, "churn@prod"))   # ONNX when trusted
    check_payload_size(len(raw_body))                                   # 413 past 6 MB
    request = parse_request(json.loads(raw_body), version.signature)    # 400 naming the field
    batcher = MicroBatcher(lambda frame: runner.predict(frame, True), max_batch_size=64)
    predictions = await batcher.predict(request.frame)
    body = format_response(predictions, request, model=runner.model, runner=runner.kind)

The HTTP gateway and the function instances call these; none of it knows about a transport.
"""

from lambeam.inference.batching import MicroBatcher
from lambeam.inference.errors import InvalidInputError, PayloadTooLargeError
from lambeam.inference.onnx_runner import OnnxRunner
from lambeam.inference.predictions import Predictions
from lambeam.inference.request import (
    MAX_PAYLOAD_BYTES,
    MAX_ROWS,
    ParsedRequest,
    check_payload_size,
    parse_request,
)
from lambeam.inference.response import format_response
from lambeam.inference.runner import ModelRunner, load_runner
from lambeam.inference.sklearn_runner import SklearnRunner

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_ROWS",
    "InvalidInputError",
    "MicroBatcher",
    "ModelRunner",
    "OnnxRunner",
    "ParsedRequest",
    "PayloadTooLargeError",
    "Predictions",
    "SklearnRunner",
    "check_payload_size",
    "format_response",
    "load_runner",
    "parse_request",
]
