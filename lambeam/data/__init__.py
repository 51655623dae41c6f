"""The data stage: Beam pipelines that turn raw files into dataset versions, and reading them.

Reading a dataset version needs no Beam; `run_pipeline` imports it on first use, so training
(and its parallel search workers) and the CLI start without paying for Beam's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambeam.data.dataset import DatasetVersion, get_dataset_version, list_dataset_versions
from lambeam.data.spec import PipelineSpec, parse_pipeline_spec

if TYPE_CHECKING:
    from lambeam.data.run import PipelineRun, run_pipeline

__all__ = [
    "DatasetVersion",
    "PipelineRun",
    "PipelineSpec",
    "get_dataset_version",
    "list_dataset_versions",
    "parse_pipeline_spec",
    "run_pipeline",
]


def __getattr__(name: str) -> Any:
    if name in ("PipelineRun", "run_pipeline"):
        from lambeam.data import run

        return getattr(run, name)
    raise AttributeError(f"module 'lambeam.data' has no attribute {name!r}")
