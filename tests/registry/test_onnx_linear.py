"""Linear classifiers and TF-IDF on ONNX Runtime in float64: scikit-learn's labels at the boundary.

A float32 graph gives another label than scikit-learn to rows within ~1e-7 of a decision boundary
(the quickstart's penguins logistic regression: 206 of 5,494 rows bisected to its boundaries). The
rows here are found the same way: pairs of held-out rows that scikit-learn labels differently are
bisected along their numbers, then points up to 1e-6 either side of each boundary are compared.
"""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    Perceptron,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

from lambeam.project import Project
from lambeam.registry import onnx_feed
from tests.registry.fitted import fitted, register
from tests.registry.test_onnx_text import texts

ISLANDS = ["Biscoe", "Dream", "Torgersen"]
PENGUIN_SIGNATURE = {
    "inputs": [
        {"name": "island", "type": "string", "categories": ISLANDS, "nullable": False},
        {"name": "bill", "type": "number", "categories": None, "nullable": True},
        {"name": "flipper", "type": "number", "categories": None, "nullable": True},
        {"name": "mass", "type": "number", "categories": None, "nullable": True},
    ],
    "outputs": {},
}
TWEET_SIGNATURE = {
    "inputs": [
        {"name": "text", "type": "string", "categories": None, "nullable": True},
        {"name": "retweets", "type": "number", "categories": None, "nullable": True},
    ],
    "outputs": {},
}


def penguins(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "island": rng.choice(ISLANDS, rows),
            "bill": rng.normal(44, 5, rows),
            "flipper": rng.normal(200, 14, rows),
            "mass": rng.normal(4200, 800, rows),
        }
    )


def species(data: pd.DataFrame) -> np.ndarray:
    score = (data["bill"] - 44) / 5 + (data["flipper"] - 200) / 14 + (data["island"] == "Dream")
    noisy = score + np.random.default_rng(7).normal(0, 0.8, len(data))
    return np.array(["Adelie", "Chinstrap", "Gentoo"])[np.digitize(noisy, [-0.5, 0.7])]


def penguin_transform() -> ColumnTransformer:
    """The quickstart's shape: the one-hot block first (float32 in skl2onnx), then numbers."""

    def numbers(scale: object) -> Pipeline:
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", scale)])

    return ColumnTransformer(
        [
            ("island", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["island"]),
            ("bill", numbers(StandardScaler()), ["bill"]),
            ("flipper", numbers(MinMaxScaler()), ["flipper"]),
            ("mass", numbers(StandardScaler()), ["mass"]),
        ]
    )


def tweet_transform() -> ColumnTransformer:
    """The quickstart's tweets: a TF-IDF text column beside a log-standardized count (and
    sublinear tf, which skl2onnx wrote as log(1 + tf) where scikit-learn has 1 + log(tf))."""
    text = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="", keep_empty_features=True)),
            ("flatten", FunctionTransformer(np.ravel, feature_names_out="one-to-one")),
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )
    count = Pipeline(
        [("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
         ("standardize", StandardScaler())]
    )  # fmt: skip
    return ColumnTransformer([("text", text, ["text"]), ("retweets", count, ["retweets"])])


def boundary_rows(pipeline: Pipeline, rows: pd.DataFrame, numbers: list[str]) -> pd.DataFrame:
    """Points up to 1e-6 either side of scikit-learn's decision boundaries, found by bisecting
    between a row and the same row with another row's numbers, where the labels differ."""
    rng = np.random.default_rng(0)
    found: list[pd.DataFrame] = []
    for _ in range(40):
        i, j = rng.integers(len(rows), size=2)
        a = rows.iloc[[i]].reset_index(drop=True)
        b = a.copy()
        b[numbers] = rows.iloc[j][numbers].to_numpy(dtype=float)
        mix = functools.partial(_mixed, a, b, numbers)
        first = pipeline.predict(a)[0]
        if pipeline.predict(b)[0] == first:
            continue
        low, high = 0.0, 1.0
        for _ in range(55):
            middle = (low + high) / 2
            low, high = (
                (middle, high) if pipeline.predict(mix(middle))[0] == first else (low, middle)
            )
        found += [mix(t) for t in np.linspace(low - 1e-6, high + 1e-6, 21)]
    return pd.concat(found, ignore_index=True)


def _mixed(a: pd.DataFrame, b: pd.DataFrame, numbers: list[str], t: float) -> pd.DataFrame:
    """Row `a` with its numbers moved a fraction `t` of the way to `b`'s."""
    return a.assign(**{c: a[c] * (1 - t) + b[c] * t for c in numbers})


def untied(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Rows whose two highest scikit-learn scores are not equal to 1e-12: where the label is
    decided by more than the order of a float64 sum (the check treats the rest as ties)."""
    scores = np.asarray(pipeline.decision_function(frame))
    if scores.ndim == 1:
        return np.abs(scores) > 1e-12
    top = np.sort(scores, axis=1)[:, -2:]
    return np.asarray(top[:, 1] - top[:, 0] > 1e-12)


def served_labels(version, frame: pd.DataFrame) -> np.ndarray:
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    feed = onnx_feed(version.signature, frame, version.onnx_check["input_type"])
    return np.asarray(session.run(None, feed)[0])


def test_a_multiclass_logistic_regression_gives_scikit_learns_labels_at_its_boundaries(
    project: Project,
) -> None:
    train, held_out = penguins(300, 0), penguins(200, 1)
    pipeline = fitted(LogisticRegression(max_iter=1000), train, species(train), penguin_transform())
    version = register(project.db, project.store, pipeline, sample=held_out, sig=PENGUIN_SIGNATURE)
    check = version.onnx_check
    assert version.onnx_status == "trusted", check
    assert check["input_type"] == "double", check  # was float32: the graph's Softmax refused
    near = boundary_rows(pipeline, held_out, ["bill", "flipper", "mass"])
    assert len(near) >= 20 * 21
    decided = untied(pipeline, near)
    labels = served_labels(version, near)
    assert list(labels[decided]) == list(pipeline.predict(near)[decided])
    proba = pipeline.predict_proba(near)
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    _, served = session.run(None, onnx_feed(version.signature, near, "double"))
    np.testing.assert_allclose(served, proba, rtol=1e-12, atol=1e-15)


def test_a_tfidf_model_gives_scikit_learns_labels_at_its_boundaries(project: Project) -> None:
    train, held_out = texts(600, 0), texts(300, 1)
    for data, seed in ((train, 2), (held_out, 3)):
        data["retweets"] = np.floor(np.exp(np.random.default_rng(seed).uniform(0, 9, len(data))))
    lowered = train["text"].fillna("").str.lower()
    score = lowered.str.count("café") - lowered.str.count("über") + np.log1p(train["retweets"]) / 2
    y = np.where(score > 2.5, "android", "iphone")
    pipeline = fitted(LogisticRegression(C=4.0, max_iter=2000), train, y, tweet_transform())
    version = register(project.db, project.store, pipeline, sample=held_out, sig=TWEET_SIGNATURE)
    check = version.onnx_check
    assert version.onnx_status == "trusted", check
    assert check["input_type"] == "double", check  # was float32: the TF-IDF norm refused
    near = boundary_rows(pipeline, held_out.fillna({"text": ""}), ["retweets"])
    assert len(near) >= 10 * 21
    decided = untied(pipeline, near)
    labels = served_labels(version, near)
    assert list(labels[decided]) == list(pipeline.predict(near)[decided])


LINEAR = [
    pytest.param(LinearSVC(), 2, id="linear_svc_binary"),
    pytest.param(LinearSVC(), 3, id="linear_svc"),
    pytest.param(RidgeClassifier(), 2, id="ridge_binary"),  # a 1-D coef_
    pytest.param(RidgeClassifier(), 3, id="ridge"),
    pytest.param(LogisticRegression(), 2, id="logistic_binary"),
    pytest.param(LogisticRegressionCV(cv=3), 3, id="logistic_cv"),
    pytest.param(SGDClassifier(loss="log_loss", random_state=0), 2, id="sgd_log_binary"),
    pytest.param(SGDClassifier(loss="log_loss", random_state=0), 3, id="sgd_log"),
    pytest.param(SGDClassifier(loss="modified_huber", random_state=0), 2, id="sgd_huber_binary"),
    pytest.param(SGDClassifier(loss="modified_huber", random_state=0), 3, id="sgd_huber"),
    pytest.param(Perceptron(random_state=0), 3, id="perceptron"),
]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # LogisticRegressionCV's coming defaults
@pytest.mark.parametrize(("estimator", "classes"), LINEAR)
def test_every_linear_classifier_serves_in_float64_with_scikit_learns_numbers(
    project: Project, estimator: BaseEstimator, classes: int
) -> None:
    """LinearSVC and RidgeClassifier were refused in float64 ("post_transform 'NONE' is not
    supported with double"); each link is scikit-learn's own, to float64 rounding."""
    train, held_out = penguins(300, 2), penguins(200, 3)
    y = species(train) if classes == 3 else np.where(species(train) == "Adelie", 1, 0)
    pipeline = fitted(estimator, train, y, penguin_transform())
    version = register(project.db, project.store, pipeline, sample=held_out, sig=PENGUIN_SIGNATURE)
    assert version.onnx_status == "trusted", version.onnx_check
    assert version.onnx_check["input_type"] == "double", version.onnx_check
    session = ort.InferenceSession(version.onnx_bytes(), providers=["CPUExecutionProvider"])
    labels, second = session.run(None, onnx_feed(version.signature, held_out, "double"))
    assert list(labels) == list(pipeline.predict(held_out))
    if hasattr(pipeline, "predict_proba"):
        want = pipeline.predict_proba(held_out)
    else:  # no probabilities: the decision scores, as skl2onnx wrote them
        want = pipeline.decision_function(held_out).reshape(len(held_out), -1)
    np.testing.assert_allclose(second, want, rtol=1e-12, atol=1e-15)
