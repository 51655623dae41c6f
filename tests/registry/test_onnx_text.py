"""A text (TF-IDF) model on ONNX Runtime: converted, and checked like every other model."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from lambeam.project import Project
from lambeam.registry import onnx_feed
from tests.registry.fitted import fitted, register

# One-letter words (dropped by scikit-learn's tokenizer, so "was a great" holds the bigram "was
# great"), letters outside ASCII, digits, underscores, capitals and punctuation.
WORDS = [
    "good", "luck", "great", "game", "was", "a", "I", "café", "naïve", "Zürich", "über",
    "x2", "2016", "new_york", "THANK", "you", "https://t.co/Qne", "&amp;", "日本語", "déjà-vu",
]  # fmt: skip
SIGNATURE = {
    "inputs": [{"name": "text", "type": "string", "categories": None, "nullable": True}],
    "outputs": {},
}


def texts(rows: int, seed: int) -> pd.DataFrame:
    """Tweets of random words; some missing, some empty."""
    rng = np.random.default_rng(seed)
    docs: list[Any] = [
        " ".join(rng.choice(WORDS, size=rng.integers(1, 12))) + rng.choice(["", "!", "."])
        for _ in range(rows)
    ]
    for i in range(0, rows, 17):
        docs[i] = np.nan
    for i in range(5, rows, 23):
        docs[i] = ""
    return pd.DataFrame({"text": docs})


def labels(data: pd.DataFrame) -> np.ndarray:
    lowered = data["text"].fillna("").str.lower()
    score = lowered.str.count("café") + lowered.str.count("was great") - lowered.str.count("über")
    return np.where(score + 0.3 * lowered.str.count("2016") > 0.5, "yes", "no")


def text_steps() -> ColumnTransformer:
    """The shape of a dataset's tfidf column: impute "", flatten to documents, vectorize."""
    text = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="", keep_empty_features=True)),
            ("flatten", FunctionTransformer(np.ravel, feature_names_out="one-to-one")),
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2))),
        ]
    )
    return ColumnTransformer([("text", text, ["text"])])


def text_model(train: pd.DataFrame) -> Pipeline:
    model = LogisticRegression(C=10.0, max_iter=1000)
    return fitted(model, train, labels(train), steps=text_steps())


def test_a_text_model_serves_on_onnx_with_scikit_learns_answers(project: Project) -> None:
    train, held_out = texts(600, 0), texts(400, 1)
    pipeline = text_model(train)
    assert "was great" in pipeline[0].named_transformers_["text"][-1].vocabulary_
    version = register(project.db, project.store, pipeline, sample=held_out, sig=SIGNATURE)
    check = version.onnx_check
    assert version.onnx_status == "trusted", check
    assert check["rows"] == len(held_out) and check["label_agreement"] == 1.0
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_feed(version.signature, held_out, check["input_type"]))
    assert list(label) == list(pipeline.predict(held_out))
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), atol=1e-6)
    # One request of one row, missing or empty, as a function serves it.
    for one in (np.nan, "", "I"):
        row = pd.DataFrame({"text": [one]})
        label, _ = session.run(None, onnx_feed(version.signature, row, check["input_type"]))
        assert list(label) == list(pipeline.predict(row))


def test_python_lowercasing_that_onnx_runtime_lacks_is_reported_as_disagreement(
    project: Project,
) -> None:
    # Python lowercases a word-final capital sigma to ς; ONNX Runtime's StringNormalizer maps
    # each character alone (Σ to σ), so "ΣΊΣΥΦΟΣ" is another term there: an honest `disagrees`.
    train = pd.DataFrame({"text": ["σίσυφος good", "game luck", "σίσυφος game", "luck"] * 30})
    y = np.where(train["text"].str.contains("σίσυφος"), "yes", "no")
    pipeline = fitted(LogisticRegression(), train, y, steps=text_steps())
    held_out = pd.DataFrame({"text": ["ΣΊΣΥΦΟΣ game", "good luck"] * 5})
    version = register(project.db, project.store, pipeline, sample=held_out, sig=SIGNATURE)
    check = version.onnx_check
    assert version.onnx_status == "disagrees", check
    assert check["agreement"] == 0.5 and check["error"] is None
