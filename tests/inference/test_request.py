"""Requests are checked against the signature; every refusal is a 400 naming the field and row."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lambeam.errors import DataError
from lambeam.inference import (
    InvalidInputError,
    Predictions,
    decode_body,
    format_response,
    parse_batch,
    parse_request,
)
from lambeam.registry import InputColumn, Signature
from tests.registry.fitted import signature

SIGNATURE = Signature.from_dict(
    signature()
)  # amount: number, nullable; age: number; city: string of 3 categories
OPEN = Signature(  # a string column without known categories takes any text
    (InputColumn("note", "string", None, nullable=True),)
)


def _refused(body, sig=SIGNATURE, **kwargs) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        parse_request(body, sig, **kwargs)
    error = caught.value
    assert error.http_status == 400 and isinstance(error, DataError)
    assert "\n" not in str(error)
    return error


def test_instances_become_a_canonical_frame_in_signature_order() -> None:
    body = {
        "instances": [
            {"city": "oslo", "age": 41, "amount": 12.5},
            {"age": 37.5, "city": "quito"},  # amount is nullable: missing means NaN
            {"amount": None, "age": 20, "city": "lisbon"},
        ],
        "probabilities": True,
    }
    request = parse_request(body, SIGNATURE)
    assert request.probabilities is True and request.rows == 3
    frame = request.frame
    assert list(frame.columns) == ["amount", "age", "city"]
    assert frame["amount"].dtype == np.float64 and frame["age"].dtype == np.float64
    assert frame["city"].dtype == object
    assert frame["age"].tolist() == [41.0, 37.5, 20.0]
    assert frame["amount"].iloc[0] == 12.5 and frame["amount"].iloc[1:].isna().all()
    assert frame["city"].tolist() == ["oslo", "quito", "lisbon"]


def test_columnar_inputs_make_the_same_frame() -> None:
    rows = {"instances": [{"amount": 1.0, "age": 30, "city": "oslo"}, {"age": 31, "city": "quito"}]}
    columns = {"inputs": {"city": ["oslo", "quito"], "age": [30, 31], "amount": [1.0, None]}}
    pd.testing.assert_frame_equal(
        parse_request(rows, SIGNATURE).frame, parse_request(columns, SIGNATURE).frame
    )
    assert parse_request(columns, SIGNATURE).probabilities is False
    # A nullable column may be left out entirely.
    left_out = parse_request({"inputs": {"age": [30], "city": ["oslo"]}}, SIGNATURE).frame
    assert math.isnan(left_out["amount"].iloc[0])


def test_missing_strings_are_nan_in_an_object_column() -> None:
    frame = parse_request({"instances": [{"note": "hi"}, {"note": None}, {}]}, OPEN).frame
    assert frame["note"].dtype == object
    assert frame["note"].iloc[0] == "hi"
    assert all(isinstance(v, float) and math.isnan(v) for v in frame["note"].iloc[1:])


OSLO = {"age": 3, "city": "oslo"}
REFUSALS = [  # (id, body, field, row, words in the message)
    ("missing-column", {"instances": [OSLO, {"city": "oslo"}]}, "age", 1, "missing"),
    (
        "missing-column-inputs",
        {"inputs": {"amount": [1.0], "city": ["oslo"]}},
        "age",
        None,
        "missing",
    ),
    ("unknown-column", {"instances": [{**OSLO, "colour": "red"}]}, "colour", 0, "unknown column"),
    (
        "unknown-column-inputs",
        {"inputs": {"age": [3], "city": ["oslo"], "colour": ["red"]}},
        "colour",
        None,
        "unknown column",
    ),
    (
        "text-for-number",
        {"instances": [{"age": "forty", "city": "oslo"}]},
        "age",
        0,
        "expected a number, got text",
    ),
    (
        "bool-for-number",
        {"instances": [OSLO, {"age": True, "city": "oslo"}]},
        "age",
        1,
        "expected a number, got a boolean",
    ),
    (
        "number-for-string",
        {"inputs": {"age": [3, 4], "city": ["oslo", 7]}},
        "city",
        1,
        "expected a string, got a number",
    ),
    (
        "bool-for-string",
        {"instances": [{"age": 3, "city": False}]},
        "city",
        0,
        "expected a string, got a boolean",
    ),
    (
        "unknown-category",
        {"instances": [{"age": 3, "city": "paris"}]},
        "city",
        0,
        "unknown category 'paris'",
    ),
    ("null-not-nullable", {"instances": [{"age": None, "city": "oslo"}]}, "age", 0, "not nullable"),
    (
        "nan-not-nullable",
        {"inputs": {"age": [1.0, float("nan")], "city": ["oslo", "oslo"]}},
        "age",
        1,
        "not nullable",
    ),
    (
        "null-string-not-nullable",
        {"instances": [{"age": 3, "city": None}]},
        "city",
        0,
        "not nullable",
    ),
    ("infinity", {"instances": [{"age": float("inf"), "city": "oslo"}]}, "age", 0, "finite"),
    ("huge-integer", {"inputs": {"age": [1, 10**400], "city": ["oslo"] * 2}}, "age", 1, "finite"),
    (
        "ragged",
        {"inputs": {"age": [1, 2, 3], "city": ["oslo", "oslo"]}},
        "city",
        None,
        "has 2 values",
    ),
    ("column-not-a-list", {"inputs": {"age": 3, "city": ["oslo"]}}, "age", None, "must be a list"),
    ("empty-instances", {"instances": []}, "instances", None, "empty"),
    ("empty-inputs", {"inputs": {"age": [], "city": []}}, "inputs", None, "empty"),
    ("no-columns", {"inputs": {}}, "inputs", None, "no columns"),
    ("neither-shape", {}, "instances", None, "no 'instances'"),
    ("instances-not-a-list", {"instances": OSLO}, "instances", None, "must be a list"),
    ("instance-not-an-object", {"instances": [["oslo", 3]]}, "instances", 0, "must be an object"),
    ("both-shapes", {"instances": [], "inputs": {}}, "inputs", None, "both"),
    (
        "probabilities-not-bool",
        {"instances": [OSLO], "probabilities": "yes"},
        "probabilities",
        None,
        "true or false",
    ),
    ("unknown-key", {"instance": [OSLO]}, "instance", None, "unknown request field"),
]


@pytest.mark.parametrize(
    ("body", "field", "row", "words"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_each_refusal_names_the_field_and_row(body, field: str, row, words: str) -> None:
    error = _refused(body)
    message = str(error)
    assert repr(field) in message or f"'{field}'" in message, message
    assert words in message, message
    assert (error.field, error.row) == (field, row)
    if row is not None:
        assert f"row {row}" in message or f"[{row}]" in message, message


def test_an_unknown_category_lists_known_values_truncated() -> None:
    many = [f"c{i:02d}" for i in range(40)]
    sig = Signature((InputColumn("code", "string", many),))
    message = str(_refused({"instances": [{"code": "c00"}, {"code": "zz"}]}, sig))
    assert "'code'" in message and "row 1" in message and "'zz'" in message
    assert "'c00'" in message and "'c09'" in message and "'c10'" not in message
    assert "30 more" in message
    # Without listed categories any text is taken.
    assert parse_request({"instances": [{"note": "anything"}]}, OPEN).rows == 1


def test_a_body_that_is_not_an_object_is_refused() -> None:
    for body in ([{"age": 3}], "age=3", None, 7):
        assert "JSON object" in str(_refused(body))


def test_too_many_rows_are_refused() -> None:
    rows = [{"age": 1, "city": "oslo"}] * 6
    assert parse_request({"instances": rows}, SIGNATURE, max_rows=6).rows == 6
    error = _refused({"instances": rows}, max_rows=5)
    assert "'instances'" in str(error) and "6 rows" in str(error) and "at most 5" in str(error)
    error = _refused({"inputs": {"age": [1] * 6, "city": ["oslo"] * 6}}, max_rows=5)
    assert "'inputs'" in str(error)


def test_response_is_json_and_carries_probabilities_only_when_asked() -> None:
    predictions = Predictions(
        list(np.array(["no", "yes"], dtype=object)),
        np.array([[0.75, 0.25], [0.5, 0.5]]).tolist(),
        [np.str_("no"), np.str_("yes")],
    )
    asked = parse_request(
        {"instances": [{"age": 1, "city": "oslo"}] * 2, "probabilities": True}, SIGNATURE
    )
    body = format_response(
        predictions, probabilities=asked.probabilities, model="churn:3", runner="onnx"
    )
    assert json.loads(json.dumps(body)) == {
        "predictions": ["no", "yes"],
        "probabilities": [[0.75, 0.25], [0.5, 0.5]],
        "classes": ["no", "yes"],
        "model": "churn:3",
        "runner": "onnx",
    }
    plain = parse_request({"instances": [{"age": 1, "city": "oslo"}] * 2}, SIGNATURE)
    without = format_response(
        predictions, probabilities=plain.probabilities, model="churn:3", runner="onnx"
    )
    assert "probabilities" not in without and without["classes"] == ["no", "yes"]
    values = Predictions(list(np.array([1.5, np.float32(2.25)])))
    body = format_response(values, probabilities=False, model="spend:1", runner="sklearn")
    assert json.dumps(body, allow_nan=False)
    assert body == {"predictions": [1.5, 2.25], "model": "spend:1", "runner": "sklearn"}


def _alone(raw: bytes):
    """What one request gets when it is checked by itself: its columns, or its refusal."""
    try:
        return parse_request(decode_body(raw), SIGNATURE)
    except InvalidInputError as exc:
        return exc


def test_a_batch_is_checked_as_if_each_request_came_alone() -> None:
    row = {"amount": 12.5, "age": 41, "city": "oslo"}
    batches = [
        # all of the common shape: checked together
        [{"instances": [row]}, {"instances": [row, {**row, "age": 3.5}], "probabilities": True}],
        # one bad value among them: each is checked alone, and only it is refused, at its row
        [{"instances": [row]}, {"instances": [row, {**row, "age": "x"}]}, {"instances": [row]}],
        # other shapes mixed in: columnar, a nullable column left out, not an object, not JSON
        [
            {"instances": [row]},
            {"inputs": {"age": [1, 2], "city": ["quito", "lisbon"]}},
            {"instances": [{"age": 7, "city": "quito"}]},
            [row],
            b"{not json",
            {"instances": [row], "extra": 1},
            {"instances": [{**row, "amount": None}]},
        ],
        [b"", {"instances": []}],  # nothing valid
    ]
    for batch in batches:
        raws = [b if isinstance(b, bytes) else json.dumps(b).encode() for b in batch]
        parsed = parse_batch(raws, SIGNATURE)
        assert sorted([*parsed.indices, *parsed.errors]) == list(range(len(raws)))
        for k, index in enumerate(parsed.indices):
            alone = _alone(raws[index])
            assert isinstance(alone, type(parse_request({"instances": [row]}, SIGNATURE)))
            got = parsed.rows_of(k)
            assert list(got) == ["amount", "age", "city"]
            for name, values in alone.columns.items():
                assert got[name].dtype == values.dtype
                assert pd.Series(got[name]).equals(pd.Series(values)), name
            assert parsed.probabilities[k] == alone.probabilities
        for index, error in parsed.errors.items():
            alone = _alone(raws[index])
            assert isinstance(alone, InvalidInputError) and str(error) == str(alone)
            assert (error.field, error.row) == (alone.field, alone.row)


def test_what_orjson_refuses_is_read_as_the_standard_library_reads_it() -> None:
    assert decode_body(b"  ") is None
    assert decode_body(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a byte order mark
    assert math.isnan(decode_body(b'{"a": NaN}')["a"])  # then refused by the signature check
    assert decode_body(b"1" * 400) == int("1" * 400)  # past float64: refused, naming the field
    error = _refused({"instances": [{"age": int("1" * 400), "city": "oslo"}]})
    assert error.field == "age" and "finite number" in str(error)
    with pytest.raises(InvalidInputError, match="not JSON"):
        decode_body(b'{"a": }')


def test_a_body_nested_too_deeply_is_refused_alone_in_its_batch() -> None:
    deep = b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        decode_body(deep)
    row = json.dumps({"instances": [{"amount": 12.5, "age": 41, "city": "oslo"}]}).encode()
    parsed = parse_batch([row, deep, row], SIGNATURE)
    assert parsed.indices == [0, 2] and list(parsed.errors) == [1]
    # Deep enough to be read (orjson reads up to 1024 levels), too deep to quote in the refusal
    # as repr() would: refused alone, naming the field.
    for depth in (990, 1000, 1020):
        value = b"[" * depth + b"]" * depth
        nested = b'{"instances": [{"amount": 1, "age": ' + value + b', "city": "oslo"}]}'
        parsed = parse_batch([row, nested], SIGNATURE)
        assert parsed.indices == [0] and parsed.errors[1].field == "age"


def test_a_value_below_a_logs_domain_is_refused_naming_field_and_row() -> None:
    # amount's pipeline takes its log (log1p), so the model cannot take -1 or less: a 400 that
    # names it, not a NaN that fails inside scikit-learn. NaN (nullable) is not held to it.
    logged = Signature(
        tuple(
            replace(spec, greater_than=-1.0) if spec.name == "amount" else spec
            for spec in SIGNATURE.inputs
        ),
        SIGNATURE.outputs,
    )
    row = {"amount": 12.5, "age": 41, "city": "oslo"}
    error = _refused({"instances": [row, {**row, "amount": -4500}]}, logged)
    assert (error.field, error.row) == ("amount", 1)
    assert str(error) == (
        "row 1, column 'amount': expected a number greater than -1 (the model takes its log),"
        " got -4500"
    )
    assert (
        _refused({"inputs": {**{k: [v] for k, v in row.items()}, "amount": [-1]}}, logged).row == 0
    )
    assert parse_request({"instances": [{**row, "amount": None}]}, logged).rows == 1
    # in a batch, only the request with the value is refused
    raws = [json.dumps({"instances": [r]}).encode() for r in (row, {**row, "amount": -1}, row)]
    parsed = parse_batch(raws, logged)
    assert parsed.indices == [0, 2] and parsed.errors[1].field == "amount"


def test_an_integer_past_the_digit_limit_fails_only_its_own_request() -> None:
    """Python refuses to read an integer of more than 4,300 digits (a ValueError, not a JSON
    error): it is that request's 400, and the batch's other requests are answered."""
    huge = b'{"instances": [{"age": ' + b"9" * 5000 + b', "city": "oslo"}]}'
    good = json.dumps({"instances": [{"age": 41, "city": "oslo"}]}).encode()
    batch = parse_batch([huge, good], SIGNATURE)
    assert batch.indices == [1] and set(batch.errors) == {0}
    assert batch.errors[0].http_status == 400 and "4300 digits" in str(batch.errors[0])
