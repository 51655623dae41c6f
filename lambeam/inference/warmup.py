"""What the zygote runs once before it forks: the one-time costs of a model function's first call.

ONNX Runtime builds its environment on the first session a process creates (about 15 ms here),
and NumPy, pandas and json each do some work on first use. Paid once in the zygote, every instance
forked afterwards inherits the result instead of paying it during its cold start. Nothing here
starts a thread (a fork keeps only the forking thread): ONNX Runtime is held to one thread per
session, as the runners hold it.
"""

from __future__ import annotations

import json

import numpy as np

from lambeam.inference.handler import BatchHandler
from lambeam.inference.onnx_runner import OnnxRunner
from lambeam.inference.wire import decode_replies, encode_requests
from lambeam.registry.signature import InputColumn, Signature

__all__ = ["zygote_warm_up"]

_SIGNATURE = Signature(
    (InputColumn("x", "number"), InputColumn("s", "string", ["a"], nullable=True)),
    {"task": "regression"},
)


def zygote_warm_up() -> None:
    """Create and run a one-node ONNX graph through the batch handler, and throw it away."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 1])
    s = helper.make_tensor_value_info("s", TensorProto.STRING, [None, 1])
    out = helper.make_tensor_value_info("variable", TensorProto.DOUBLE, [None, 1])
    identity = helper.make_node("Identity", ["x"], ["variable"])
    graph = helper.make_graph([identity], "warm", [x, s], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    handler = BatchHandler(OnnxRunner(model.SerializeToString(), _SIGNATURE), _SIGNATURE)
    body = json.dumps({"instances": [{"x": 1.5, "s": "a"}, {"x": 2, "s": None}]}).encode()
    ((status, answer),) = decode_replies(handler(encode_requests([body])))
    if status != 200 or json.loads(answer)["predictions"] != [1.5, 2.0]:
        raise RuntimeError(f"the zygote's warm-up predict failed: {status} {answer!r}")
    np.zeros(1).tolist()
