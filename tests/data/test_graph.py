"""The Beam graph of a pipeline run: how many stages it fuses into (each costs set-up time)."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import fn_runner

from lambeam.data.pipeline import build_pipeline
from lambeam.data.spec import parse_pipeline_spec
from lambeam.storage import ArtifactStore


@pytest.mark.parametrize(("files", "most"), [(1, 6), (3, 7)])
def test_the_graph_fuses_into_one_stage_per_pass_and_barrier(
    tmp_path: Path, files: int, most: int
) -> None:
    # Read with pass 1, plan, pass 2, build, write, result (+ Create's reshuffle for several
    # files); it was 12 and 13: a Reshuffle after Create's own, a stage per combine default
    # and a separate combine and side input for the raw sample and the list of shards.
    spec = parse_pipeline_spec(
        "p",
        {
            "source": "in/*.csv",
            "label": "label",
            "columns": {"x": ["impute:mean", "standardize"], "t": ["tfidf"]},
        },
    )
    pipeline = beam.Pipeline(runner=fn_runner.FnApiRunner())
    paths = [str(tmp_path / f"in/{i}.csv") for i in range(files)]
    build_pipeline(pipeline, spec, paths, ArtifactStore(str(tmp_path / "store")), "scratch")
    _, stages = fn_runner.FnApiRunner().create_stages(pipeline.to_runner_api())
    assert len(stages) <= most, [stage.name for stage in stages]
