"""tfidf: TF-IDF of a text column over the full data's vocabulary (a sparse block of features)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import FunctionTransformer

from lambeam.data.operations.base import Fail, Operation, table_params
from lambeam.data.operations.fitting import frame
from lambeam.data.terms import term_counts, tfidf_vocabulary

if TYPE_CHECKING:
    from lambeam.data.partials import ColumnPartial

__all__ = ["Tfidf"]


@dataclasses.dataclass(frozen=True)
class Tfidf(Operation):
    """{tfidf={max_features, ngram, min_df}}."""

    name: ClassVar[str] = "tfidf"
    encoder: ClassVar[bool] = True
    column_type: ClassVar[str | None] = "string"
    sparse: ClassVar[bool] = True
    max_features: int = 1000
    ngram: list[int] = dataclasses.field(default_factory=lambda: [1, 1])
    min_df: int = 1

    @classmethod
    def parse(cls, params: Any, fail: Fail) -> Tfidf:
        defaults = Tfidf().params
        merged = table_params("tfidf", params, defaults, ("max_features", "min_df"), fail)
        ngram = merged["ngram"]
        if (
            not isinstance(ngram, list)
            or len(ngram) != 2
            or not all(isinstance(n, int) for n in ngram)
            or not 1 <= ngram[0] <= ngram[1]
        ):
            raise fail("tfidf.ngram must be [low, high] with 1 <= low <= high")
        return cls(**merged)

    def counts_in_profile(self) -> bool | None:
        return False  # free text: as many distinct values as rows

    def analyze(self, part: ColumnPartial, values: np.ndarray) -> None:
        part.terms, part.documents = term_counts(values, self.params)

    def finish(
        self, entry: dict[str, Any], part: ColumnPartial | None, column: str, place: str
    ) -> None:
        terms, documents = (part.terms or {}, part.documents) if part is not None else ({}, 0)
        entry.update(tfidf_vocabulary(column, terms, documents, self.params, place))

    def sklearn_steps(
        self, column: str, entry: Mapping[str, Any], first: bool
    ) -> list[tuple[str, Any]]:
        steps: list[tuple[str, Any]] = []
        if first:
            imputer = SimpleImputer(strategy="constant", fill_value="", keep_empty_features=True)
            steps.append(("impute", imputer.fit(frame(column, [""], False))))
        # TfidfVectorizer takes one document per row: a 1-D array, not the imputer's column.
        steps.append(("flatten", FunctionTransformer(np.ravel, feature_names_out="one-to-one")))
        vectorizer = TfidfVectorizer(
            vocabulary={t: i for i, t in enumerate(entry["terms"])},
            ngram_range=tuple(self.ngram),
        )
        # idf_ holds smooth idf from the full-pass document frequencies (pass 2).
        vectorizer.idf_ = np.asarray(entry["idf"], dtype=np.float64)
        steps.append(("tfidf", vectorizer))
        return steps
