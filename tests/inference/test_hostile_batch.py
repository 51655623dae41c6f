"""Every hostile body is its own request's refusal, written as UTF-8 JSON, and the good requests
batched with it are answered (issue 12, finding 3)."""

from __future__ import annotations

import json
import random

import pytest

from lambeam.inference.request import parse_batch
from lambeam.registry.signature import Signature
from tests.inference.conftest import CLASSIFIER_OUTPUTS
from tests.inference.hostile import HOSTILE, good_body, random_hostile
from tests.registry.fitted import signature

SIGNATURE = Signature.from_dict(signature(CLASSIFIER_OUTPUTS))
ACCEPTED = {"byte order mark", "UTF-16", "negative zero and tiny"}  # valid, as json reads them


def _check(body: bytes, refused: bool | None) -> None:
    batch = parse_batch([good_body(30), body, good_body(31)], SIGNATURE)
    assert set(batch.errors) <= {1} and batch.indices[0] == 0 and batch.indices[-1] == 2
    if refused is not None:
        assert (1 in batch.errors) is refused
    for error in batch.errors.values():
        # What the gateway writes back: UTF-8 JSON (a lone surrogate made it a 500).
        answer = {"message": str(error), "field": error.field, "row": error.row}
        json.dumps(answer, ensure_ascii=False).encode("utf-8")
        assert len(str(error)) < 2000


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_body_is_refused_alone(name: str) -> None:
    _check(HOSTILE[name], name not in ACCEPTED)


def test_random_hostile_bodies_are_refused_alone() -> None:
    bodies = random_hostile(random.Random(20261212))
    for _ in range(2000):
        _check(next(bodies), None)
