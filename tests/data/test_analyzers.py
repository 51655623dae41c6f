"""Analyzers: text counts tokenised exactly as scikit-learn does; order-independent moments."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from lambeam.data.analyzers import Moments
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
