"""A text column's TF-IDF as ONNX Runtime runs it: the rewrites and converter options it needs.

A dataset's tfidf column is `SimpleImputer("") → FunctionTransformer(np.ravel) →
TfidfVectorizer`. On the copy that skl2onnx converts (never the registered pipeline):

- The string imputer fills NaN, but a served request's missing strings reach the graph as ""
  (`onnx_feed`), and skl2onnx converts a string imputer only when its missing value is a string:
  the copy imputes "" instead, which with fill value "" is the identity either way.
- The ravel before a vectorizer becomes the identity: skl2onnx has no converter for a
  FunctionTransformer with a function, and the vectorizer's converter flattens its input itself.
- A TfidfVectorizer weighs and normalises its counts in float64 (`onnx_tfidf`).

And the vectorizer's converter is given two options (`text_options`):

- `tokenexp`: scikit-learn's default token pattern `(?u)\\b\\w\\w+\\b` (runs of two or more
  Unicode word characters) is not RE2 syntax, so skl2onnx replaces it with `[a-zA-Z0-9_]+`, which
  also keeps one-letter tokens (so "was a great" makes no bigram "was great") and cuts words at
  every non-ASCII letter. `[\\pL\\pN_]{2,}` is the same tokens in RE2: Python's \\w is a letter,
  a number or "_", and a greedy leftmost run of two or more is exactly a run between \\b's.
- `locale`: the lowercasing StringNormalizer defaults to en_US.UTF-8, which many hosts (this
  project's containers among them) lack, and then ONNX Runtime refuses to load the graph. The
  first of C.UTF-8 and en_US.UTF-8 that this ONNX Runtime can build is used. Its lowercasing is
  per character: Python's special cases (a final capital sigma, a dotted capital I) differ, and
  the check on held-out rows says so when the data holds them.

A non-default token pattern is passed to RE2 as written (skl2onnx's own behaviour); the check
decides whether it tokenises alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from lambeam.registry.onnx_tfidf import float64_tfidf

__all__ = ["RE2_WORDS", "for_text", "text_options"]

SKLEARN_WORDS = r"(?u)\b\w\w+\b"
RE2_WORDS = r"[\pL\pN_]{2,}"
_LOCALES = ("C.UTF-8", "en_US.UTF-8")


def for_text(estimator: Any) -> Any:
    """`estimator` with its string imputers and its ravels before a vectorizer rewritten for
    conversion (see the module's docstring), in place."""
    if _imputes_strings_as_nan(estimator):
        estimator.missing_values = ""
    elif isinstance(estimator, Pipeline):
        steps = [(name, float64_tfidf(for_text(step))) for name, step in estimator.steps]
        for i, (name, step) in enumerate(steps[:-1]):
            if _is_ravel(step) and isinstance(steps[i + 1][1], CountVectorizer):
                steps[i] = (name, FunctionTransformer(None).fit(np.zeros((1, 1))))
        estimator.steps = steps
    elif isinstance(estimator, ColumnTransformer) and hasattr(estimator, "transformers_"):
        for _, block, _ in estimator.transformers_:
            if not isinstance(block, str):
                for_text(block)
    elif isinstance(estimator, FeatureUnion):
        for _, part in estimator.transformer_list:
            if not isinstance(part, str):
                for_text(part)
    return estimator


def text_options(estimator: Any) -> dict[int, dict[str, Any]]:
    """skl2onnx options by id for each word vectorizer in `estimator`: tokenexp and locale."""
    options: dict[int, dict[str, Any]] = {}
    for part in _parts(estimator):
        if not isinstance(part, CountVectorizer) or part.analyzer != "word":
            continue
        chosen: dict[str, Any] = {}
        if part.token_pattern == SKLEARN_WORDS and part.tokenizer is None:
            chosen["tokenexp"] = RE2_WORDS
        locale = _normalizer_locale()
        if part.lowercase and locale is not None:
            chosen["locale"] = locale
        if chosen:
            options[id(part)] = chosen
    return options


def _parts(estimator: Any) -> Iterator[Any]:
    yield estimator
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            yield from _parts(step)
    elif isinstance(estimator, ColumnTransformer) and hasattr(estimator, "transformers_"):
        for _, block, _ in estimator.transformers_:
            if not isinstance(block, str):
                yield from _parts(block)
    elif isinstance(estimator, FeatureUnion):
        for _, part in estimator.transformer_list:
            if not isinstance(part, str):
                yield from _parts(part)


def _imputes_strings_as_nan(estimator: Any) -> bool:
    if not isinstance(estimator, SimpleImputer) or not hasattr(estimator, "statistics_"):
        return False
    missing = estimator.missing_values
    return (
        isinstance(missing, float)
        and np.isnan(missing)
        and np.asarray(estimator.statistics_).dtype.kind == "O"
        and all(isinstance(value, str) for value in estimator.statistics_)
    )


def _is_ravel(step: Any) -> bool:
    return isinstance(step, FunctionTransformer) and step.func is np.ravel


@functools.cache
def _normalizer_locale() -> str | None:
    """The first locale ONNX Runtime's StringNormalizer can build on this host, or None."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    for locale in _LOCALES:
        node = helper.make_node(
            "StringNormalizer", ["x"], ["y"], case_change_action="LOWER", locale=locale
        )
        graph = helper.make_graph(
            [node],
            "locale_probe",
            [helper.make_tensor_value_info("x", TensorProto.STRING, [None])],
            [helper.make_tensor_value_info("y", TensorProto.STRING, [None])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        quiet = ort.SessionOptions()
        quiet.log_severity_level = 4  # a missing locale is expected here, not an error to log
        try:
            ort.InferenceSession(
                model.SerializeToString(), quiet, providers=["CPUExecutionProvider"]
            )
        except Exception:  # noqa: BLE001 - this locale is missing here: try the next
            continue
        return locale
    return None
