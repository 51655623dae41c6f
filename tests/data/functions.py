"""Functions that tests name in `{function = "tests.data.functions:…"}` steps."""

from __future__ import annotations

from typing import Any

import pandas as pd
from apache_beam.runners.runner import PipelineRunner


def add_flag(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds a derived 0/1 column; keeps every row, as a function step must."""
    return frame.assign(flag=(frame["score"] > 0))


def drop_half(frame: pd.DataFrame) -> pd.DataFrame:
    """Changes the number of rows: a function step that must be refused."""
    return frame.iloc[: len(frame) // 2]


class BrokenRunner(PipelineRunner):
    """A Beam runner that fails on its own (a worker lost, a cluster gone): Beam's problem, not
    the pipeline's, named by `--runner=tests.data.functions.BrokenRunner`."""

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        raise RuntimeError("the job service went away")
