"""Beam options of a pipeline run: the in-process runner by default, every runner selectable, and a
misspelt option or a bad value one line naming it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lambeam.cli import main
from lambeam.data import run_pipeline
from lambeam.data.beam_options import parse_beam_options
from lambeam.errors import ConfigError
from lambeam.project import Project
from tests.data.conftest import with_pipelines
from tests.data.test_run import sample_frame, write_csv

TOML = """
[project]
name = "options"

[pipelines.small]
source = "data.csv"
label = "label"
split = { key = "id" }
columns = { amount = ["impute:mean", "standardize"] }
"""


def _small(project: Project, tmp_path: Path) -> Project:
    source = write_csv(tmp_path / "data.csv", sample_frame(rows=60))
    spec = {"source": str(source), "label": "label", "split": {"key": "id"}}
    return with_pipelines(project, small=spec)


def test_the_default_runner_is_in_process_and_never_tries_prism(
    project: Project, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apache_beam")
    run = run_pipeline(_small(project, tmp_path), "small")
    assert run.dataset_version.runner == "FnApiRunner"
    # Beam's DirectRunner logs this before it tries to download Prism from the internet.
    assert not [r for r in caplog.records if "Prism" in r.getMessage()]


def test_another_runner_is_selectable_and_recorded(project: Project, tmp_path: Path) -> None:
    run = run_pipeline(
        _small(project, tmp_path), "small", beam_args=["--runner", "BundleBasedDirectRunner"]
    )
    assert run.dataset_version.runner == "BundleBasedDirectRunner"


def test_a_runner_s_own_options_are_known_once_it_is_named() -> None:
    parsed = parse_beam_options(["--runner", "FlinkRunner", "--flink_master", "host:8081"])
    assert type(parsed.runner).__name__ == "FlinkRunner"
    assert parsed.options.get_all_options()["flink_master"] == "host:8081"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--direct_num_workrs=2"],
            ["unknown Beam option --direct_num_workrs", "--direct_num_workers"],
        ),
        (["--direct_num_workers", "two"], ["--direct_num_workers", "invalid int value: 'two'"]),
        (["--direct_running_mode=fast"], ["--direct_running_mode", "invalid choice: 'fast'"]),
        (["--runner", "Nopeunner"], ["Beam runner 'Nopeunner'", "FnApiRunner"]),
        (["stray"], ["unexpected Beam argument 'stray'"]),
    ],
)
def test_a_bad_option_is_one_line_naming_it(
    tmp_path: Path, args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_beam_options(args)
    for word in words:
        assert word in str(raised.value)
    (tmp_path / "lambeam.toml").write_text(TOML)
    write_csv(tmp_path / "data.csv", sample_frame(rows=20))
    capsys.readouterr()
    code = main(["-C", str(tmp_path), "pipeline", "run", "small", "--", *args])
    err = capsys.readouterr().err
    assert code == 2 and "usage:" not in err and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.strip()][-1].startswith("error: "), err
