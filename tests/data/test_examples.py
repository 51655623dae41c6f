"""The shipped example data: penguins (categories, NA values) and tweets (text with tfidf)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lambeam.data import run_pipeline
from lambeam.project import Project
from tests.conftest import EXAMPLES
from tests.data.conftest import with_pipelines
from tests.data.reference import assert_transform_reproduces, read_raw

# Penguins have no id; these measurements together are unique per bird in the shipped file.
KEY = "bill_length_mm * 1e7 + bill_depth_mm * 1e5 + flipper_length_mm * 100 + body_mass_g / 100"


def test_penguins(project: Project) -> None:
    source = EXAMPLES / "data" / "penguins.csv"
    spec = {
        "source": str(source),
        "label": "species",
        "steps": [{"filter": "sex.notna()"}, {"derive": {"row": KEY}}],
        "split": {"test": 0.2, "key": "row"},
        "columns": {
            "bill_length_mm": ["impute:median", "standardize"],
            "bill_depth_mm": ["impute:mean", "standardize"],
            "flipper_length_mm": ["minmax"],
            "body_mass_g": ["log", {"buckets": 5}],
            "island": ["onehot"],
            "sex": [{"onehot": {"oov": False}}],
        },
        "drop": ["year"],
    }
    version = run_pipeline(with_pipelines(project, penguins=spec), "penguins").dataset_version
    raw = read_raw(source)
    raw = raw[raw["sex"].notna()]
    assert version.rows == len(raw) == 333
    _, y = version.features()
    assert set(y) == {"Adelie", "Chinstrap", "Gentoo"}
    names = version.feature_names()
    assert "island_Biscoe" in names and "sex_male" in names and "year" not in names
    assert version.profile["bill_length_mm"]["missing"] == 0
    frame = version.frame()
    raw = raw.assign(row=raw.eval(KEY))
    assert frame["row"].is_unique
    assert_transform_reproduces(version, raw, "row")


def test_tweets_with_tfidf(project: Project) -> None:
    source = EXAMPLES / "data" / "tweets.csv"
    spec = {
        "source": {"path": str(source), "schema": {"id": "string"}},
        "label": "device",
        "split": {"test": 0.25, "key": "id"},
        "columns": {
            "text": [{"tfidf": {"max_features": 300, "ngram": [1, 2], "min_df": 2}}],
            "retweet_count": ["log", "standardize"],
            "favorite_count": ["log", "standardize"],
        },
        "drop": ["created_at"],
    }
    version = run_pipeline(with_pipelines(project, tweets=spec), "tweets").dataset_version
    X, y = version.features()
    assert sp.issparse(X) and X.shape == (version.rows, 302)
    assert set(np.unique(y)) >= {"android", "iphone"}
    test_rows = version.manifest.shards[0]["test_rows"]
    assert (
        0.2 < sum(s["test_rows"] for s in version.manifest.shards) / version.rows < 0.3 or test_rows
    )
    raw = read_raw(source, {"id": "string"}, dtype={"id": str})
    assert_transform_reproduces(version, raw, "id")
    sample = version.raw_sample()
    assert sample is not None and len(sample) == 1000 and "text" in sample
