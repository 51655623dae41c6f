"""Hostile request bodies for a model function, by name, and random ones from a seed.

Every one must be its own request's 400 (issue 12, finding 3), never a failure of the other
requests it is batched with. Rows are for the test signature of tests/registry/fitted.py:
`amount` (number, nullable), `age` (number) and `city` (one of lisbon, oslo, quito).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

__all__ = ["GOOD_ROW", "HOSTILE", "good_body", "random_hostile"]

GOOD_ROW = '{"amount": 51.5, "age": 40, "city": "oslo"}'


def good_body(age: int) -> bytes:
    """A valid request whose answer depends on `age`, so an answer shows whose it is."""
    return json.dumps({"instances": [{"amount": 50.0, "age": age, "city": "oslo"}]}).encode()


def _row(**values: str) -> bytes:
    fields = {"amount": "51.5", "age": "40", "city": '"oslo"', **values}
    inner = ", ".join(f'"{name}": {text}' for name, text in fields.items())
    return b'{"instances": [{' + inner.encode() + b"}]}"


HOSTILE: dict[str, bytes] = {
    "int of 5,000 digits": _row(age="9" * 5000),
    "int of 5,000 digits, alone": b"9" * 5000,
    "int of 400 digits": _row(age="1" + "0" * 400),
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "nested 3,000 deep in a value": _row(age="[" * 3000 + "]" * 3000),
    "objects nested 5,000 deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "NaN literal": _row(age="NaN"),
    "Infinity literal": _row(amount="Infinity"),
    "-Infinity literal": _row(age="-Infinity"),
    "huge float": _row(age="1e400"),
    "huge negative float": _row(amount="-1.7976931348623157e309"),
    "string for a number": _row(age='"forty"'),
    "number for a string": _row(city="7"),
    "list for a number": _row(age="[1, 2]"),
    "object for a string": _row(city='{"a": 1}'),
    "boolean for a number": _row(age="true"),
    "null where required": _row(age="null"),
    "unknown category": _row(city='"paris"'),
    "invalid UTF-8": _row(city='"\xff\xfe"').replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe"),
    "lone surrogate": _row(city='"\\ud800"'),
    "lone surrogate in a key": b'{"instances": [{"\\udfff": 1}]}',
    "lone surrogate in a request field": b'{"instances": [], "\\udc00": 1}',
    "byte order mark": b"\xef\xbb\xbf" + _row(),
    "UTF-16": _row().decode().encode("utf-16"),
    "top-level number": b"42",
    "top-level string": b'"instances"',
    "top-level null": b"null",
    "top-level true": b"true",
    "top-level list": b"[" + GOOD_ROW.encode() + b"]",
    "empty body": b"",
    "whitespace body": b" \n\t ",
    "NUL bytes": b"\x00" * 64,
    "truncated": _row()[:-3],
    "trailing garbage": _row() + b" }",
    "no instances": b'{"instance": []}',
    "empty instances": b'{"instances": []}',
    "instances an object": b'{"instances": {"age": 1}}',
    "100,000 columns": b'{"instances": [{'
    + b", ".join(b'"c%d": %d' % (i, i) for i in range(100_000))
    + b"}]}",
    "100,000 rows": b'{"instances": [' + b", ".join([GOOD_ROW.encode()] * 100_000) + b"]}",
    "rows of other shapes": b'{"instances": [' + GOOD_ROW.encode() + b', {"age": 1}, 7]}',
    "probabilities a string": b'{"instances": [' + GOOD_ROW.encode() + b'], "probabilities": "y"}',
    "inputs ragged": b'{"inputs": {"amount": [1, 2], "age": [3], "city": ["oslo", "oslo"]}}',
    "inputs a list": b'{"inputs": [1, 2, 3]}',
    "duplicate keys": b'{"instances": [{"age": 1, "age": "x", "amount": 1, "city": "oslo"}]}',
    "a 1 MB string": _row(city='"' + "x" * (1 << 20) + '"'),
    "control characters": _row(city='"os\\u0000lo"'),
    "negative zero and tiny": _row(amount="-0.0", age="1e-400"),
}


def random_hostile(rng: random.Random) -> Iterator[bytes]:
    """Endless hostile bodies: mutations of a good one (bytes flipped, cut, spliced with the
    named cases) and random JSON values, all from `rng`."""
    named = list(HOSTILE.values())
    good = _row()
    scalars = ["1e999", "NaN", "-0", "9" * 4400, '"\\ud83d"', "null", "[]", "{}", '"oslo"', "1"]
    while True:
        kind = rng.randrange(5)
        if kind == 0:
            data = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield bytes(data)
        elif kind == 1:
            cut = rng.randrange(len(good))
            yield good[:cut] + rng.choice(named)[: rng.randint(0, 64)] + good[cut:]
        elif kind == 2:
            yield _row(**{rng.choice(["amount", "age", "city"]): rng.choice(scalars)})
        elif kind == 3:
            depth = rng.randint(1, 5000)
            yield b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"
        else:
            yield rng.choice(named)
