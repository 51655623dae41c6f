"""skops bytes as lambeam writes them: compact, and loaded by skops as its own."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

from lambeam.storage.trusted import dump_pipeline, load_pipeline


def _fitted() -> tuple[ColumnTransformer, pd.DataFrame]:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=200),
            "text": [" ".join(rng.choice(words, 6)) for _ in range(200)],
        }
    )
    transform = ColumnTransformer(
        [("x", StandardScaler(), ["x"]), ("text", TfidfVectorizer(), "text")]
    )
    return transform.fit(frame), frame


def test_schema_is_compact_json_and_skops_loads_it() -> None:
    # skops' own dumps indents schema.json, which makes json encode it in pure Python:
    # most of a dataset transform's dump time, and 4x its size.
    transform, frame = _fitted()
    data, types = dump_pipeline(transform)
    schema = zipfile.ZipFile(io.BytesIO(data)).read("schema.json")
    assert b"\n" not in schema
    assert sorted(sio.get_untrusted_types(data=data)) == types
    loaded = sio.loads(data, trusted=types)
    expected = transform.transform(frame).toarray()
    np.testing.assert_array_equal(loaded.transform(frame).toarray(), expected)
    again = load_pipeline(data, types)
    np.testing.assert_array_equal(again.transform(frame).toarray(), expected)
    assert len(data) < len(sio.dumps(transform))
