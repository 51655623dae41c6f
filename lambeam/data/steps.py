"""Applying a pipeline's preparation steps (filter, derive, function) to one canonical frame.

Steps are given in their canonical dict form ({"filter": expr} | {"derive": {col: expr}} |
{"function": "module:fn"}), the form a fitted transform stores, so the pipeline and a served model
run the very same code.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lambeam.data.frames import canonical_frame
from lambeam.errors import ColumnError, ConfigError, PipelineError

__all__ = ["PRIVATE", "apply_steps", "load_function", "user_columns"]

PRIVATE = "__lambeam"


def apply_steps(
    frame: pd.DataFrame, steps: Sequence[Mapping[str, Any]], place: str = ""
) -> pd.DataFrame:
    """Run `steps` in order on `frame`; errors name the step (`place` prefixes them)."""
    for index, step in enumerate(steps):
        ((kind, arg),) = step.items()
        where = f"{place}steps[{index}] ({kind})"
        if kind == "filter":
            frame = frame.loc[_condition(_evaluate(frame, arg, where), len(frame), arg, where)]
        elif kind == "derive":
            frame = frame.copy(deep=False)
            for name, expression in arg.items():
                values = _evaluate(frame, expression, f"{where} {name}")
                frame[name] = values
            frame = canonical_frame(frame)
        else:
            function = load_function(arg, where)
            rows = len(frame)
            # Private columns (the split hash, row positions) are kept out of user code.
            private = [c for c in frame.columns if str(c).startswith(PRIVATE)]
            try:
                result = function(frame.drop(columns=private))
            except Exception as exc:  # noqa: BLE001 - user code: any failure names its step
                raise PipelineError(
                    f"{where}: function {arg} failed: {type(exc).__name__}: {exc}"
                ) from None
            if not isinstance(result, pd.DataFrame):
                raise PipelineError(
                    f"{where}: function {arg} returned {type(result).__name__}, not a DataFrame"
                )
            if len(result) != rows:
                raise PipelineError(
                    f"{where}: function {arg} returned {len(result)} rows for {rows}; a function "
                    "step must keep every row (use a filter step to drop rows)"
                )
            result = canonical_frame(result)
            for col in private:
                result[col] = frame[col].to_numpy()
            frame = result
    return frame


def _condition(result: Any, rows: int, expression: str, where: str) -> np.ndarray:
    """A filter's result as a row mask, refused unless it is true/false per row. lambeam reads
    booleans as 0.0/1.0, so a column of those (missing: false) is a condition too."""
    mask = np.asarray(result)
    if mask.shape != (rows,):
        raise ColumnError(
            f"{where}: filter {expression!r} gave one {mask.dtype} value, not a true/false "
            'per row; write a condition on columns, e.g. "Age > 30"'
        )
    if mask.dtype == bool:
        return mask
    if mask.dtype == np.float64 and np.isin(mask[~np.isnan(mask)], (0.0, 1.0)).all():
        return mask == 1.0
    if mask.dtype == object and all(isinstance(v, bool | np.bool_) or pd.isna(v) for v in mask):
        return np.asarray(pd.Series(mask).fillna(False).astype(bool))
    shown = next((v for v in mask.tolist() if not pd.isna(v)), None)
    raise ColumnError(
        f"{where}: filter {expression!r} gave {mask.dtype} values (e.g. {shown!r}), not "
        'true/false; a filter is a condition, e.g. "Age > 30" or "city == \'a\'"'
    )


def _evaluate(frame: pd.DataFrame, expression: str, where: str) -> Any:
    try:
        try:
            return frame.eval(expression, engine="numexpr" if _numexpr() else "python")
        except TypeError as exc:
            # lambeam reads booleans as 0.0/1.0, which ~ and `not` refuse ("ufunc 'invert' not
            # supported"): once more with each negated flag written 1 - flag, a missing value
            # staying missing (a filter drops its row).
            rewritten = _negated_flags(frame, expression)
            if rewritten is None:
                raise
            try:
                return frame.eval(rewritten, engine="numexpr" if _numexpr() else "python")
            except Exception:  # noqa: BLE001 - not that: the first failure is the one to say
                raise exc from None
    except pd.errors.UndefinedVariableError as exc:
        name = str(exc).split("'")[1] if "'" in str(exc) else str(exc)
        raise ColumnError(
            f"{where}: unknown column {name!r} in {expression!r}; columns are "
            + ", ".join(user_columns(frame))
        ) from None
    except Exception as exc:  # noqa: BLE001 - a bad expression, named with its step
        raise ColumnError(
            f"{where}: cannot evaluate {expression!r}: {type(exc).__name__}: {exc}"
        ) from None


def _negated_flags(frame: pd.DataFrame, expression: str) -> str | None:
    """`expression` with each `~name` and `not name` written `(1 - name)` (`(name == 0)` as an
    operand of and/or/&/|, which take true/false only), where `name` is a column of booleans as
    lambeam reads them (0.0, 1.0, missing); None when there is none, or when a negated number
    column is not such a flag (then ~ on it is the user's error to see).

    Only the negated columns change, so `~flag + count` still adds the number `count`, and the
    answer does not depend on which rows a batch or a request holds.
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:  # backticked names: pandas' own syntax, left as pandas says
        return None
    columns = set(user_columns(frame))
    flags: set[str] = set()

    logical: set[int] = set()  # the nodes that are operands of a logical operator
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp):
            logical.update(id(value) for value in node.values)
        elif isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.BitAnd | ast.BitOr | ast.BitXor
        ):
            logical.update((id(node.left), id(node.right)))

    class _Negations(ast.NodeTransformer):
        def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
            in_logic = id(node) in logical
            self.generic_visit(node)
            operand = node.operand
            if not (
                isinstance(node.op, ast.Invert | ast.Not)
                and isinstance(operand, ast.Name)
                and operand.id in columns
                and frame[operand.id].dtype == np.float64
            ):
                return node
            flags.add(operand.id)
            if in_logic:
                return ast.Compare(operand, [ast.Eq()], [ast.Constant(0)])
            return ast.BinOp(ast.Constant(1), ast.Sub(), operand)

    rewritten = _Negations().visit(tree)
    for name in flags:
        if not np.isin(frame[name].dropna().to_numpy(), (0.0, 1.0)).all():
            return None
    return ast.unparse(rewritten) if flags else None


def user_columns(frame: pd.DataFrame) -> list[str]:
    """`frame`'s column names without lambeam's private ones: what a message may list."""
    return [str(c) for c in frame.columns if not str(c).startswith(PRIVATE)]


def load_function(path: str, where: str = "function") -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Import "module:function"."""
    module_name, _, attr = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import {path}: {exc}") from None
    if not callable(function):
        raise ConfigError(f"{where}: {path} is not callable")
    return function


def _numexpr() -> bool:
    try:
        import numexpr  # noqa: F401
    except ImportError:
        return False
    return True
