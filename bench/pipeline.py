"""Benchmark: the lambeam Beam pipeline against the same preparation in plain pandas + scikit-learn.

    .venv/bin/python bench/pipeline.py            # 1,000,000 rows
    .venv/bin/python bench/pipeline.py --quick    # 100,000 rows, under a minute

Both sides read the same CSV and do the same work: impute + standardize three numeric columns, log
one, onehot the top 20 of a ~50-value categorical, tfidf (1000 features) a short text column, split
by a hash of the id, and write Parquet. Prints both times and the ratio; the last line is JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambeam.config import Settings
from lambeam.data import run_pipeline
from lambeam.project import Project

VOCABULARY = 2000
CATEGORIES = 50


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """A synthetic CSV: numbers with missing values, a categorical, short texts, a label, an id."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:04d}" for i in range(VOCABULARY)], dtype=object)
    # Zipf-like word frequencies, as in real text.
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    tokens = words[rng.choice(VOCABULARY, size=(rows, 8), p=weights / weights.sum())]
    text = [" ".join(row) for row in tokens]
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64) * 7 + 1_000_003,
            "x1": rng.normal(10, 3, rows),
            "x2": rng.normal(-5, 1, rows),
            "x3": rng.uniform(0, 1, rows),
            "amount": rng.lognormal(3, 1, rows),
            "city": np.array([f"city{i:02d}" for i in range(CATEGORIES)], dtype=object)[
                rng.zipf(1.3, rows) % CATEGORIES
            ],
            "text": text,
            "label": rng.integers(0, 2, rows),
        }
    )
    for col in ("x1", "x2", "amount"):
        frame.loc[rng.random(rows) < 0.05, col] = np.nan
    frame.to_csv(path, index=False, float_format="%.6g")


SPEC = {
    "label": "label",
    "split": {"test": 0.2, "key": "id"},
    "columns": {
        "x1": ["impute:mean", "standardize"],
        "x2": ["impute:mean", "standardize"],
        "x3": ["impute:mean", "standardize"],
        "amount": ["impute:mean", "log"],
        "city": [{"onehot": {"top_k": 20}}],
        "text": [{"tfidf": {"max_features": 1000}}],
    },
}


def run_lambeam(csv: Path, workdir: Path, beam_args: list[str]) -> tuple[float, str]:
    """Seconds of one run_pipeline call (imports done, as on the pandas side) and its runner."""
    root = workdir / "project"
    settings = Settings(
        root=root,
        name="bench",
        database_url=f"sqlite:///{root / 'meta.db'}",
        artifacts=str(root / "artifacts"),
        pipelines={"bench": {"source": str(csv), **SPEC}},
    )
    root.mkdir(parents=True, exist_ok=True)
    project = Project.from_settings(settings)
    started = time.perf_counter()
    run = run_pipeline(project, "bench", beam_args=beam_args)
    elapsed = time.perf_counter() - started
    project.close()
    if not run.dataset_version.rows:
        raise SystemExit("the pipeline wrote no rows")
    return elapsed, run.dataset_version.runner


def run_pandas(csv: Path, out: Path) -> float:
    """The same work in one process with pandas and scikit-learn, fitted the usual way."""
    import scipy.sparse as sp
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    frame["text"] = frame["text"].fillna("")
    transform = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()),
                ["x1", "x2", "x3"],
            ),
            (
                "amount",
                make_pipeline(SimpleImputer(strategy="mean"), FunctionTransformer(np.log1p)),
                ["amount"],
            ),
            (
                "city",
                OneHotEncoder(
                    max_categories=21, handle_unknown="infrequent_if_exist", sparse_output=False
                ),
                ["city"],
            ),
            ("text", TfidfVectorizer(max_features=1000), "text"),
        ],
        sparse_threshold=1.0,
    )
    matrix = transform.fit_transform(frame).tocsc()
    test = (
        pd.util.hash_pandas_object(frame["id"], index=False).to_numpy().astype(np.float64) / 2.0**64
        < 0.2
    )
    dense = matrix[:, : matrix.shape[1] - 1000].toarray()
    text = sp.csr_matrix(matrix[:, matrix.shape[1] - 1000 :])
    offsets = pa.array(text.indptr.astype(np.int32))
    columns = {
        "__split": pa.array(np.where(test, "test", "train")),
        "label": pa.array(frame["label"]),
    }
    for i in range(dense.shape[1]):
        columns[f"f{i}"] = pa.array(dense[:, i])
    columns["text.indices"] = pa.ListArray.from_arrays(
        offsets, pa.array(text.indices.astype(np.int32))
    )
    columns["text.values"] = pa.ListArray.from_arrays(offsets, pa.array(text.data))
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, compression="zstd")
    out.write_bytes(sink.getvalue())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--rows", type=int, help="number of rows (overrides --quick)")
    parser.add_argument(
        "--beam-arg",
        action="append",
        default=None,
        help="a Beam option for the lambeam side (repeatable)",
    )
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    # lambeam's default (Beam's FnApiRunner in this process): on two shared cores, measured faster
    # than --direct_num_workers=2 --direct_running_mode=multi_processing (see BENCHMARKS.md).
    beam_args = args.beam_arg if args.beam_arg is not None else []
    with tempfile.TemporaryDirectory(prefix="lambeam-bench-") as tmp:
        workdir = Path(tmp)
        csv = workdir / "input.csv"
        started = time.perf_counter()
        generate(csv, rows)
        print(
            f"generated {rows:,} rows ({csv.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s"
        )
        pandas_seconds = run_pandas(csv, workdir / "pandas.parquet")
        print(f"pandas + scikit-learn: {pandas_seconds:.2f}s")
        beam_seconds, runner = run_lambeam(csv, workdir, beam_args)
        print(
            f"lambeam pipeline ({runner}, {' '.join(beam_args) or 'defaults'}): {beam_seconds:.2f}s"
        )
        ratio = beam_seconds / pandas_seconds
        print(f"beam / pandas: {ratio:.2f}")
    print(
        json.dumps(
            {
                "rows": rows,
                "beam_seconds": round(beam_seconds, 3),
                "pandas_seconds": round(pandas_seconds, 3),
                "beam_over_pandas": round(ratio, 3),
                "beam_args": beam_args,
                "runner": runner,
            }
        )
    )


if __name__ == "__main__":
    main()
