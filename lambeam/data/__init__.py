"""The data stage: Beam pipelines that turn raw files into dataset versions, and reading them."""

from lambeam.data.dataset import DatasetVersion, get_dataset_version, list_dataset_versions
from lambeam.data.run import PipelineRun, run_pipeline
from lambeam.data.spec import PipelineSpec, parse_pipeline_spec

__all__ = [
    "DatasetVersion",
    "PipelineRun",
    "PipelineSpec",
    "get_dataset_version",
    "list_dataset_versions",
    "parse_pipeline_spec",
    "run_pipeline",
]
