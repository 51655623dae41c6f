"""The handler a model function's instance runs: a micro-batch of raw requests in, answers out.

    handle = BatchHandler.from_directory(model_dir)       # at the instance's init
    reply = handle(encode_requests([body_a, body_b]), context)
    decode_replies(reply) == [(200, answer_a), (400, b'{"errorMessage": …}')]

Each request is validated on its own terms (`parse_batch`): one that does not fit the signature
gets its 400 (status 400, `{"errorMessage", "errorType": "InvalidInputError", "field", "row"}`)
and the rest go on. The valid requests' rows are predicted together in one call; if that call
fails, each request is predicted alone, so only the request that cannot be predicted gets the
error (status 500, Lambda's error document).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lambeam.inference.errors import InvalidInputError
from lambeam.inference.files import load_model_files
from lambeam.inference.predictions import Predictions
from lambeam.inference.request import ParsedBatch, parse_batch
from lambeam.inference.response import format_response
from lambeam.inference.runner import ModelRunner
from lambeam.inference.wire import FAILED, INVALID, OK, decode_requests, encode_replies
from lambeam.registry.signature import Signature

__all__ = ["BatchHandler", "predict_together"]

Columns = dict[str, np.ndarray]


class BatchHandler:
    """Answers batches of predict requests with one loaded runner."""

    def __init__(self, runner: ModelRunner, signature: Signature) -> None:
        self.runner = runner
        self.signature = signature

    @classmethod
    def from_directory(cls, directory: Path) -> BatchHandler:
        """The handler for a serving directory (see `write_model_files`)."""
        return cls(*load_model_files(directory))

    def __call__(self, payload: bytes, context: Any = None) -> bytes:
        """The reply to a batch payload: one (status, body) per request, in order."""
        bodies = decode_requests(payload)
        replies: list[tuple[int, bytes]] = [(FAILED, b"")] * len(bodies)
        batch = parse_batch(bodies, self.signature)
        for index, exc in batch.errors.items():
            replies[index] = (INVALID, _invalid(exc))
        outcomes = predict_together(self._predict, batch)
        model, kind = self.runner.model, self.runner.kind
        for index, asked, outcome in zip(batch.indices, batch.probabilities, outcomes, strict=True):
            if isinstance(outcome, Exception):
                refused = _bad_features(outcome)
                if refused is not None:
                    replies[index] = (INVALID, _invalid(refused))
                else:
                    replies[index] = (FAILED, _failed(outcome))
                continue
            answer = format_response(outcome, probabilities=asked, model=model, runner=kind)
            replies[index] = (OK, orjson.dumps(answer))
        return encode_replies(replies)

    def _predict(self, columns: Columns) -> Predictions:
        # A batch mixes requests that asked for probabilities with ones that did not; compute
        # them once for all, and format_response keeps them only where they were asked for.
        return self.runner.predict_columns(columns, probabilities=True)


def predict_together(
    predict: Callable[[Columns], Predictions], batch: ParsedBatch
) -> list[Predictions | Exception]:
    """Each valid request's predictions from one `predict` call on all of the batch's rows.

    When that call fails, each request is predicted alone and only the ones that fail get their
    exception; a request is never answered with another request's rows.
    """
    if not batch.spans:
        return []
    try:
        together = _checked(predict(batch.columns), batch.spans[-1][1])
    except Exception as exc:  # noqa: BLE001 - handed back per request, never lost
        if len(batch.spans) == 1:
            return [exc]
        return [_alone(predict, batch, k) for k in range(len(batch.spans))]
    return [together.rows(start, stop) for start, stop in batch.spans]


def _alone(
    predict: Callable[[Columns], Predictions], batch: ParsedBatch, k: int
) -> Predictions | Exception:
    start, stop = batch.spans[k]
    try:
        return _checked(predict(batch.rows_of(k)), stop - start)
    except Exception as exc:  # noqa: BLE001
        return exc


def _checked(predictions: Predictions, rows: int) -> Predictions:
    if len(predictions) != rows:
        raise RuntimeError(f"the model returned {len(predictions)} predictions for {rows} rows")
    return predictions


def _bad_features(exc: Exception) -> InvalidInputError | None:
    """The request's own fault when its valid values became a missing or infinite feature in
    the pipeline's steps (a derive that divides by zero, a function step's log of a negative):
    scikit-learn refuses the features with "Input X contains NaN" or "... infinity"."""
    message = str(exc)
    if not (
        isinstance(exc, ValueError) and message.startswith(("Input X contains", "Input contains"))
    ):
        return None
    return InvalidInputError(
        "the model cannot take this request: after the pipeline's steps a feature is missing or"
        f" infinite ({message.splitlines()[0].rstrip('.')}); check the values a derive or"
        " function step divides by or takes the log of"
    )


def _invalid(exc: InvalidInputError) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "field": exc.field,
            "row": exc.row,
        }
    ).encode()


def _failed(exc: Exception) -> bytes:
    # Into the invocation's log too, as Lambda's runtime writes an unhandled error.
    frames = traceback.format_tb(exc.__traceback__)
    sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(frames)}")
    return json.dumps(
        {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": frames}
    ).encode()
