"""Text analyzers: term and document frequencies, tokenised exactly as scikit-learn does.

Pass 2 counts, per batch, how often each term occurs (to choose `max_features`, as
CountVectorizer does) and in how many documents (for smooth idf); `tfidf_vocabulary` turns the
merged counts into the vocabulary and idf_ the fitted TfidfVectorizer carries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lambeam.errors import ColumnError

__all__ = ["term_counts", "text_analyzer", "tfidf_vocabulary"]


def text_analyzer(params: Mapping[str, Any]) -> Any:
    """The CountVectorizer that tokenises exactly as the transform's TfidfVectorizer does."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(ngram_range=tuple(params["ngram"]), dtype=np.int64)


# CountVectorizer's default token_pattern is (?u)\b\w\w+\b: maximal runs of two or more word
# characters. \w\w+ (greedy, so it always takes a whole run) finds the same tokens, faster.
_WORDS = re.compile(r"\w\w+")
# Joins a batch's documents into one string; a word token, so it shows where each document ends.
_BOUNDARY = " zzlambeamdocumentboundaryzz "


def term_counts(values: np.ndarray, params: Mapping[str, Any]) -> tuple[dict[str, list[int]], int]:
    """{term: [term frequency, document frequency]} over a batch, and its number of documents."""
    docs = np.where(pd.isna(values), "", values)
    if tuple(params["ngram"]) == (1, 1):
        fast = _word_counts(docs)
        if fast is not None:
            return fast, len(docs)
    vectorizer = text_analyzer(params)
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # no token at all in this batch
        return {}, len(docs)
    tf = np.asarray(counts.sum(axis=0)).ravel()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    terms = vectorizer.get_feature_names_out()
    return {
        t: [int(a), int(b)]
        for t, a, b in zip(terms.tolist(), tf.tolist(), df.tolist(), strict=True)
    }, len(docs)


def _word_counts(docs: np.ndarray) -> dict[str, list[int]] | None:
    """Unigram counts tokenised as CountVectorizer's default analyzer does (lowercase, then the
    default token pattern), but with one regex pass over the whole batch instead of one per
    document: the same tokens, several times faster. None if a document contains the boundary."""
    tokens = np.array(_WORDS.findall(_BOUNDARY.join(docs).lower()), dtype=object)
    boundary = tokens == _BOUNDARY.strip()
    if int(boundary.sum()) != len(docs) - 1:
        return None
    document = np.cumsum(boundary)[~boundary]
    codes, terms = pd.factorize(tokens[~boundary])
    if not len(terms):
        return {}
    tf = np.bincount(codes, minlength=len(terms))
    pairs = np.sort(document.astype(np.int64) * len(terms) + codes)
    first = np.ones(len(pairs), dtype=bool)  # distinct (document, term) pairs, by sorting
    first[1:] = pairs[1:] != pairs[:-1]
    df = np.bincount(pairs[first] % len(terms), minlength=len(terms))
    return {
        t: [int(a), int(b)]
        for t, a, b in zip(terms.tolist(), tf.tolist(), df.tolist(), strict=True)
    }


def tfidf_vocabulary(
    name: str, terms: Mapping[str, list[int]], documents: int, params: Mapping[str, Any], place: str
) -> dict[str, Any]:
    """The kept terms (min_df, then the max_features most frequent, ties by term) and their idf."""
    kept = [(t, tf, df) for t, (tf, df) in terms.items() if df >= params["min_df"]]
    kept.sort(key=lambda x: (-x[1], x[0]))
    kept = sorted(kept[: params["max_features"]])
    if not kept:
        raise ColumnError(
            f"{place} columns.{name}: tfidf found no terms (min_df {params['min_df']})"
        )
    n = documents
    # Smooth idf, as TfidfTransformer computes it: ln((1 + n) / (1 + df)) + 1.
    idf = [math.log((1 + n) / (1 + df)) + 1.0 for _, _, df in kept]
    return {
        "documents": n,
        "terms": [t for t, _, _ in kept],
        "document_frequency": [df for _, _, df in kept],
        "idf": idf,
    }
