"""Analyzers: text counts tokenised exactly as scikit-learn does; order-independent moments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from lambeam.data import parse_pipeline_spec
from lambeam.data.analyzers import Moments, finish_profile, profile_batch
from lambeam.data.terms import term_counts


@pytest.mark.parametrize("ngram", [[1, 1], [1, 2]])
def test_term_counts_match_count_vectorizer(ngram: list[int]) -> None:
    docs = np.array(
        [
            "Hello, World! hello",
            "",
            np.nan,
            "a b c_d ÉTÉ été",
            "x1 x22 _ __ 12 Σσς",
            "don't stop-me now!!",
        ],
        dtype=object,
    )
    counts, documents = term_counts(docs, {"ngram": ngram})
    vectorizer = CountVectorizer(ngram_range=tuple(ngram))
    matrix = vectorizer.fit_transform(np.where([isinstance(d, str) for d in docs], docs, ""))
    tf = np.asarray(matrix.sum(axis=0)).ravel()
    df = np.asarray((matrix > 0).sum(axis=0)).ravel()
    expected = {
        t: [int(a), int(b)]
        for t, a, b in zip(vectorizer.get_feature_names_out(), tf, df, strict=True)
    }
    assert counts == expected and documents == len(docs)


def test_moments_do_not_depend_on_batch_order() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(1e6, 1.0, 1000) for _ in range(10)]
    forward, backward = Moments(), Moments()
    for part in parts:
        forward.add(part)
    for part in reversed(parts):
        backward.add(part)
    assert forward.result() == backward.result()
    n, mean, var = forward.result()
    assert n == 10_000 and mean == pytest.approx(np.concatenate(parts).mean(), rel=1e-12)
    assert var == pytest.approx(np.concatenate(parts).var(), rel=1e-9)


def test_column_order_does_not_depend_on_merge_order() -> None:
    spec = parse_pipeline_spec("demo", {"source": "a.jsonl"})
    a = pd.DataFrame({"x": [1.0, 2.0], "city": ["a", "b"]})
    b = pd.DataFrame({"city": ["c"], "x": [3.0], "extra": [1.0]})
    types_a, types_b = (
        {"x": "number", "city": "string"},
        {"city": "string", "x": "number", "extra": "number"},
    )
    one = profile_batch(a, types_a, spec).merge(profile_batch(b, types_b, spec))
    two = profile_batch(b, types_b, spec).merge(profile_batch(a, types_a, spec))
    assert one.column_names() == two.column_names() == ["city", "x", "extra"]
    assert one.raw_names() == two.raw_names()
    assert finish_profile(one) == finish_profile(two)
