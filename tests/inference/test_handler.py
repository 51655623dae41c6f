"""A model function instance's side: serving files (as the gateway writes them), the batch wire,
and the batch handler."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lambeam.inference import (
    BatchHandler,
    ParsedBatch,
    Predictions,
    WireError,
    decode_replies,
    decode_requests,
    encode_replies,
    encode_requests,
    load_model_files,
    load_runner,
    predict_together,
)
from lambeam.invoke import write_model_files
from lambeam.invoke.model_files import HANDLER
from lambeam.registry import InputColumn, Signature
from tests.inference.conftest import HELD_OUT, Models, instances


def _bodies(count: int, seed: int = 0) -> list[tuple[pd.DataFrame, bytes]]:
    """`count` requests of 1-3 held-out rows each, as clients send them."""
    rng = random.Random(seed)
    out, start = [], 0
    for _ in range(count):
        rows = rng.randint(1, 3)
        chunk = HELD_OUT.iloc[start : start + rows].reset_index(drop=True)
        start += rows
        out.append((chunk, json.dumps({"instances": instances(chunk)}).encode()))
    return out


def test_the_wire_round_trips_and_refuses_truncated_frames() -> None:
    bodies = [b'{"a": 1}', b"", "ünï".encode(), b"x" * 70_000]
    payload = encode_requests(bodies)
    assert decode_requests(payload) == bodies
    replies = [(200, b"{}"), (400, b'{"errorMessage": "no"}'), (500, b"")]
    assert decode_replies(encode_replies(replies)) == replies
    assert decode_requests(encode_requests([])) == []
    for broken in (payload[:3], payload[:-1], payload + b"!"):
        with pytest.raises(WireError):
            decode_requests(broken)


@pytest.mark.parametrize("prefer_onnx", [True, False], ids=["onnx", "sklearn"])
def test_serving_files_load_the_runner_the_registry_would(
    models: Models, tmp_path: Path, prefer_onnx: bool
) -> None:
    version = models.logistic
    directory = write_model_files(version, tmp_path, prefer_onnx=prefer_onnx)
    assert write_model_files(version, tmp_path, prefer_onnx=prefer_onnx) == directory  # once
    assert (directory / "handler.py").is_file() and HANDLER == "handler.handle"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left
    runner, signature = load_model_files(directory)
    want = load_runner(version, prefer_onnx=prefer_onnx)
    assert (runner.kind, runner.model) == (want.kind, version.ref)
    assert signature == version.signature
    got, expected = runner.predict(HELD_OUT, True), want.predict(HELD_OUT, True)
    assert got.predictions == expected.predictions and got.classes == expected.classes


def test_an_unconvertible_model_is_served_by_scikit_learn(models: Models, tmp_path: Path) -> None:
    runner, _ = load_model_files(write_model_files(models.unconvertible, tmp_path))
    assert runner.kind == "sklearn"


@pytest.mark.parametrize("name", ["logistic", "forest", "linear"])
def test_a_batch_answers_each_request_as_if_it_came_alone(
    models: Models, tmp_path: Path, name: str
) -> None:
    version = models.get(name)
    handler = BatchHandler.from_directory(write_model_files(version, tmp_path))
    requests = _bodies(20)
    replies = decode_replies(handler(encode_requests([body for _, body in requests])))
    runner = load_runner(version)
    for (frame, _), (status, body) in zip(requests, replies, strict=True):
        assert status == 200
        answer = json.loads(body)
        alone = runner.predict(frame, probabilities=True)
        assert answer["model"] == version.ref and answer["runner"] == runner.kind
        if name == "linear":
            np.testing.assert_allclose(answer["predictions"], alone.predictions, rtol=1e-6)
        else:
            assert answer["predictions"] == alone.predictions
        assert "probabilities" not in answer  # not asked


def test_a_bad_request_gets_its_400_and_its_neighbours_their_answers(
    models: Models, tmp_path: Path
) -> None:
    handler = BatchHandler.from_directory(write_model_files(models.logistic, tmp_path))
    good = _bodies(2, seed=1)
    row = {"amount": 51.0, "age": 40, "city": "oslo"}
    bad = [
        b"{not json",
        json.dumps({"instances": [{**row, "age": "forty"}]}).encode(),
        json.dumps({"instances": [{"amount": 1.0, "age": 3}]}).encode(),
    ]
    asked = json.dumps({"instances": [row], "probabilities": True}).encode()
    payload = encode_requests([good[0][1], *bad, asked, good[1][1]])
    replies = decode_replies(handler(payload))
    assert [status for status, _ in replies] == [200, 400, 400, 400, 200, 200]
    errors = [json.loads(body) for _, body in replies[1:4]]
    assert "not JSON" in errors[0]["errorMessage"]
    assert errors[1]["field"] == "age" and errors[1]["row"] == 0
    assert errors[2]["field"] == "city" and errors[2]["errorType"] == "InvalidInputError"
    answer = json.loads(replies[4][1])
    assert len(answer["probabilities"]) == 1 and answer["classes"] == ["no", "yes"]


def test_when_the_batch_predict_fails_only_the_failing_request_fails() -> None:
    def predict(columns: dict[str, np.ndarray]) -> Predictions:
        if (columns["x"] < 0).any():
            raise ValueError("negative x")
        return Predictions((columns["x"] * 2).tolist())

    def batch(*requests: tuple[float, ...]) -> ParsedBatch:
        spans, start = [], 0
        for values in requests:
            spans.append((start, start + len(values)))
            start += len(values)
        x = np.array([v for values in requests for v in values], dtype=np.float64)
        count = len(requests)
        return ParsedBatch({"x": x}, list(range(count)), spans, [False] * count, {})

    outcomes = predict_together(predict, batch((1, 2), (-1,), (3,)))
    assert outcomes[0].predictions == [2, 4] and outcomes[2].predictions == [6]
    assert isinstance(outcomes[1], ValueError)
    assert predict_together(predict, batch()) == []
    short = predict_together(lambda columns: Predictions([1]), batch((1, 2)))
    assert isinstance(short[0], RuntimeError) and "1 predictions for 2 rows" in str(short[0])


def test_a_classifier_with_float_labels_is_answered_with_plain_numbers() -> None:
    """classes_ of 0.0/1.0 are np.float64: the answers are still JSON, and a bad neighbour
    still gets only its own 400."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lambeam.inference import SklearnRunner

    data = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, [0.0, 0.0, 1.0, 1.0])
    sig = Signature((InputColumn("x", "number"),))
    handler = BatchHandler(SklearnRunner(pipeline, model="floats:1"), sig)
    asked = json.dumps({"instances": [{"x": 3.0}], "probabilities": True}).encode()
    replies = decode_replies(handler(encode_requests([asked, b'{"instances": [{"x": "a"}]}'])))
    assert [status for status, _ in replies] == [200, 400]
    answer = json.loads(replies[0][1])
    assert answer["classes"] == [0.0, 1.0] and answer["predictions"] == [1.0]
    assert len(answer["probabilities"][0]) == 2


def test_a_request_whose_steps_make_a_feature_infinite_is_its_own_400() -> None:
    """A valid value that the pipeline's steps turn into a missing or infinite feature (a derive
    that divides by it) is the request's fault: a 400 saying so, not a 502 with scikit-learn's
    stack trace; the other requests of the batch are answered."""
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from lambeam.inference.sklearn_runner import SklearnRunner
    from lambeam.inference.wire import FAILED, INVALID, OK

    x = np.array([[1.0], [2.0], [4.0], [5.0]])
    pipeline = Pipeline(
        [
            ("select", FunctionTransformer(lambda f: 1.0 / f[["x"]].to_numpy(dtype=float))),
            ("model", LinearRegression()),
        ]
    ).fit(pd.DataFrame({"x": x[:, 0]}), [1.0, 0.5, 0.25, 0.2])
    handler = BatchHandler(
        SklearnRunner(pipeline, model="ratio:1"), Signature((InputColumn("x", "number"),))
    )
    bodies = [json.dumps({"instances": [{"x": value}]}).encode() for value in (2.0, 0.0, 4.0)]
    replies = decode_replies(handler(encode_requests(bodies)))
    assert [status for status, _ in replies] == [OK, INVALID, OK]
    refused = json.loads(replies[1][1])
    assert refused["errorType"] == "InvalidInputError" and "stackTrace" not in refused
    assert "missing or infinite" in refused["errorMessage"]
    assert "infinity" in refused["errorMessage"]
    assert FAILED not in [status for status, _ in replies]
