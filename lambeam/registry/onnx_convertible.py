"""The copy of a fitted pipeline that skl2onnx converts, and the options its converter takes.

The registered pipeline is never changed: `convertible` works on a deep copy and rewrites only
what converts badly while computing the same numbers:

- FrozenEstimator wrappers (a dataset's transform freezes its column pipelines) are replaced by
  what they wrap; skl2onnx has no converter for the wrapper.
- Runs of one-column StandardScalers become one scaler over those columns (one node, not one
  per column: ONNX Runtime's cost per node dominates a small batch).
- A numeric SimpleImputer becomes `NanFill`, which converts to IsNaN + Where in the input's own
  type. ONNX Runtime implements the ONNX-ML Imputer for float32 only, so an imputed column used
  to force the whole graph to float32, and a transform computed in float32 then routes some rows
  to another leaf of a tree than scikit-learn's float64 transform does.
- A tree model is preceded by a cast to float32: scikit-learn's trees cast their input to
  float32 and compare it with float64 thresholds; skl2onnx adjusts each threshold so that the
  float32 comparison gives the same branch (`sklearn_threshold`), so with the transform computed
  in float64 and cast the way scikit-learn casts, every row takes scikit-learn's path.
- HistGradientBoosting, which compares float64 inputs with float64 thresholds, becomes a
  subclass converted with float64 thresholds (`onnx_hist_trees`): a float32 cast would route a
  value within float32 rounding above a threshold the other way.
- Linear classifiers (LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier,
  Perceptron) become subclasses converted in float64 with scikit-learn's own link and label rule
  (`onnx_linear`); skl2onnx's converters refused float64 or typed its outputs float32.
- In a float64 graph, a cast to float64 comes before any other final estimator: skl2onnx types
  an estimator's outputs by its input's type when the pipeline is parsed, a ColumnTransformer's
  by its first block's, and a one-hot block (float32) first made the float64 graph not load.
- A text column's string imputer and ravel are rewritten for the vectorizer's converter, and the
  vectorizer gets a tokenizer pattern and locale ONNX Runtime runs alike (`onnx_text`), and its
  tf-idf weights and norm in float64 (`onnx_tfidf`).
- A `log` operation's FunctionTransformer(np.log1p) becomes Log1p, Log(X + 1) in ONNX
  (`onnx_functions`).

Imported only when registering (skl2onnx is heavy).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import BaseDecisionTree

from lambeam.registry.onnx_functions import with_functions
from lambeam.registry.onnx_hist_trees import float64_hist_trees
from lambeam.registry.onnx_linear import float64_linear
from lambeam.registry.onnx_text import for_text, text_options

__all__ = ["NanFill", "converter_options", "convertible", "final_estimator", "final_options"]


class NanFill(TransformerMixin, BaseEstimator):
    """Fills NaN with one value per column: a numeric SimpleImputer as ONNX runs it in float64."""

    def __init__(self, statistics: np.ndarray) -> None:
        self.statistics = statistics

    def fit(self, X: Any, y: Any = None) -> NanFill:
        """Nothing to learn: the values come from a fitted SimpleImputer."""
        return self

    def transform(self, X: Any) -> np.ndarray:
        """X with each NaN replaced by its column's value."""
        values = np.asarray(X, dtype=np.float64)
        return np.where(np.isnan(values), self.statistics.reshape(1, -1), values)


def convertible(pipeline: Any, input_type: str = "double") -> Any:
    """A deep copy of `pipeline` rewritten for conversion (see the module's docstring), for a
    graph whose numbers are `input_type` ("double" or "float")."""
    _register_nan_fill()
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return _rewritten(copy.deepcopy(pipeline))
    # The final estimator is converted as it is: copying it (a forest's trees) costs seconds.
    name, estimator = steps[-1]
    final = (name, float64_linear(float64_hist_trees(estimator)))
    before = [(name, _rewritten(step)) for name, step in copy.deepcopy(steps[:-1])]
    if _casts_to_float32(final[1]):
        from skl2onnx.sklapi import CastTransformer

        before.append(("float32_for_trees", CastTransformer(dtype=np.float32)))
    elif input_type == "double":
        from skl2onnx.sklapi import CastTransformer

        # skl2onnx types a final estimator's outputs by its input's type at parse time, which
        # for a ColumnTransformer is its first block's: a one-hot block (float32) first made
        # an SVC's, an MLP's or k-means' float64 outputs be declared float32, and the float64
        # graph did not load. Declared float64 here; ONNX Runtime drops the no-op cast.
        before.append(("float64_for_estimator", CastTransformer(dtype=np.float64)))
    return Pipeline([*before, final])


def _rewritten(step: Any) -> Any:
    """One copied transform step with every rewrite above applied, in place."""
    return with_functions(for_text(_with_nan_fill(_merged_scalers(_unfrozen(step)))))


def converter_options(pipeline: Any) -> dict[int, dict[str, Any]]:
    """skl2onnx's `options` for the rewritten `pipeline`: by id, for its final estimator
    (`final_options`) and its text vectorizers (`onnx_text.text_options`)."""
    options = text_options(pipeline)
    final = final_estimator(pipeline)
    chosen = final_options(final)
    if chosen:
        options[id(final)] = chosen
    return options


def final_options(final: Any) -> dict[str, Any]:
    """The options lambeam gives `final`'s converter, among those that converter accepts.

    Classifiers output plain arrays, not a list of {class: probability} maps, so that outputs
    compare directly: `zipmap` off where the converter has it. A classifier's converter without
    it (LinearSVC's: no probabilities) refuses it, yet skl2onnx's pipeline parser adds
    `zipmap=True` to any classifier step given no options, so that one gets an option it takes,
    at its default (`output_class_labels=False`, or `nocl=False`).
    """
    if not is_classifier(final):
        return {}
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter

    try:
        allowed = get_converter(get_model_alias(type(final))).get_allowed_options() or {}
    except (KeyError, ValueError):  # no converter: convert_sklearn says so itself
        return {}
    for name in ("zipmap", "output_class_labels", "nocl"):
        if name in allowed:
            return {name: False}
    return {}


def final_estimator(pipeline: Any) -> Any:
    """The pipeline's last step (or the estimator itself)."""
    steps = getattr(pipeline, "steps", None)
    return steps[-1][1] if steps else pipeline


def _casts_to_float32(estimator: Any) -> bool:
    """Whether scikit-learn casts `estimator`'s input to float32: a tree, or trees only."""
    if isinstance(estimator, BaseDecisionTree):
        return True
    members = getattr(estimator, "estimators_", None)
    if members is None:
        return False
    flat = list(np.ravel(np.asarray(members, dtype=object)))
    return bool(flat) and all(isinstance(member, BaseDecisionTree) for member in flat)


def _with_nan_fill(estimator: Any) -> Any:
    """`estimator` with every numeric, finite-valued SimpleImputer replaced by NanFill, in place."""
    if _fills_numbers(estimator):
        return NanFill(np.asarray(estimator.statistics_, dtype=np.float64))
    if isinstance(estimator, Pipeline):
        estimator.steps = [(name, _with_nan_fill(step)) for name, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer) and hasattr(estimator, "transformers_"):
        estimator.transformers_ = [
            (name, block if isinstance(block, str) else _with_nan_fill(block), columns)
            for name, block, columns in estimator.transformers_
        ]
    return estimator


def _fills_numbers(estimator: Any) -> bool:
    if not isinstance(estimator, SimpleImputer) or not hasattr(estimator, "statistics_"):
        return False
    missing = estimator.missing_values
    statistics = np.asarray(estimator.statistics_)
    if statistics.dtype.kind == "O":
        # A constant imputer (a dataset's, whatever its strategy) keeps its fill value in an
        # object array even when it is a number.
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in statistics):
            return False
        statistics = statistics.astype(np.float64)
    return (
        isinstance(missing, float)
        and np.isnan(missing)
        and not estimator.add_indicator
        and statistics.dtype.kind in "fiu"
        and bool(np.isfinite(statistics).all())
    )


@functools.cache
def _register_nan_fill() -> None:
    """Teaches skl2onnx NanFill (once per process): IsNaN + Where, in the input's type."""
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxIsNaN, OnnxWhere
    from skl2onnx.common.data_types import guess_numpy_type

    def shape(operator: Any) -> None:
        kind = operator.inputs[0].type
        columns = len(operator.raw_operator.statistics)
        operator.outputs[0].type = kind.__class__([kind.shape[0], columns])

    def convert(scope: Any, operator: Any, container: Any) -> None:
        opset = container.target_opset
        dtype = guess_numpy_type(operator.inputs[0].type)
        fill = operator.raw_operator.statistics.astype(dtype).reshape(1, -1)
        source = operator.inputs[0]
        node = OnnxWhere(
            OnnxIsNaN(source, op_version=opset),
            fill,
            source,
            op_version=opset,
            output_names=operator.outputs[:1],
        )
        node.add_to(scope, container)

    update_registered_converter(NanFill, "LambeamNanFill", shape, convert)


def _merged_scalers(estimator: Any) -> Any:
    """`estimator` with each run of adjacent one-column StandardScaler blocks of a
    ColumnTransformer made one StandardScaler over those columns, in place.

    A dataset's transform standardizes column by column; converted as it is, each column is a
    Sub and a Div node of its own, and ONNX Runtime's cost per node dominates a small batch (a
    20-column logistic regression ran 52 nodes in about 80 µs). Merged, the columns are joined
    once and scaled by one node. The outputs are the same numbers in the same order, and the
    trust check compares them with the original pipeline's anyway.
    """
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            _merged_scalers(step)
        return estimator
    if not isinstance(estimator, ColumnTransformer) or not hasattr(estimator, "transformers_"):
        return estimator
    if estimator.transformer_weights:  # weighed by block name: merged blocks would lose theirs
        return estimator
    merged: list[tuple[str, Any, Any]] = []
    run: list[tuple[str, StandardScaler, str]] = []

    def flush() -> None:
        if len(run) == 1:
            name, scaler, column = run[0]
            merged.append((name, scaler, [column]))
        elif run:
            name = f"standardize[{run[0][0]}..{run[-1][0]}]"
            merged.append((name, _joined([s for _, s, _ in run]), [c for _, _, c in run]))
        run.clear()

    for name, block, columns in estimator.transformers_:
        scaler = _lone_scaler(block)
        if scaler is None or not isinstance(columns, list) or len(columns) != 1:
            flush()
            merged.append((name, block, columns))
            continue
        if run and (scaler.with_mean, scaler.with_std) != (run[0][1].with_mean, run[0][1].with_std):
            flush()
        run.append((name, scaler, columns[0]))
    flush()
    estimator.transformers_ = merged
    return estimator


def _lone_scaler(block: Any) -> StandardScaler | None:
    """The StandardScaler a block is (alone, or as a one-step pipeline) on one column."""
    if isinstance(block, Pipeline) and len(block.steps) == 1:
        block = block.steps[0][1]
    if isinstance(block, StandardScaler) and getattr(block, "n_features_in_", 1) == 1:
        return block
    return None


def _joined(scalers: list[StandardScaler]) -> StandardScaler:
    """One fitted StandardScaler doing what `scalers` do, each on its own column."""
    first = scalers[0]
    joined = StandardScaler(with_mean=first.with_mean, with_std=first.with_std)
    for attribute in ("mean_", "var_", "scale_"):
        values = [getattr(s, attribute) for s in scalers]
        setattr(joined, attribute, None if values[0] is None else np.concatenate(values))
    joined.n_features_in_ = len(scalers)
    joined.n_samples_seen_ = first.n_samples_seen_
    return joined


def _unfrozen(estimator: Any) -> Any:
    """`estimator` with every FrozenEstimator replaced by the fitted estimator it wraps.

    A dataset's transform freezes its fitted column pipelines (so ColumnTransformer.fit cannot
    refit them); skl2onnx has no converter for the wrapper, though it computes exactly what the
    wrapped estimator does. Works in place, so callers pass a copy; the check on the raw sample
    still compares against the original pipeline.
    """
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:  # scikit-learn < 1.6 has no FrozenEstimator
        return estimator
    if isinstance(estimator, FrozenEstimator):
        return _unfrozen(estimator.estimator)
    if isinstance(estimator, Pipeline):
        estimator.steps = [(name, _unfrozen(step)) for name, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer):
        for attribute in ("transformers", "transformers_"):
            if hasattr(estimator, attribute):
                blocks = [
                    (name, block if isinstance(block, str) else _unfrozen(block), columns)
                    for name, block, columns in getattr(estimator, attribute)
                ]
                setattr(estimator, attribute, blocks)
    elif isinstance(estimator, FeatureUnion):
        estimator.transformer_list = [
            (name, part if isinstance(part, str) else _unfrozen(part))
            for name, part in estimator.transformer_list
        ]
    return estimator
