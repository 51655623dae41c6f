"""Functions that tests name in `{function = "tests.data.functions:…"}` steps."""

from __future__ import annotations

import pandas as pd


def add_flag(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds a derived 0/1 column; keeps every row, as a function step must."""
    return frame.assign(flag=(frame["score"] > 0))


def drop_half(frame: pd.DataFrame) -> pd.DataFrame:
    """Changes the number of rows: a function step that must be refused."""
    return frame.iloc[: len(frame) // 2]
