"""The Beam options of a pipeline run: the local runner by default, and every option checked.

Beam's DirectRunner first tries to download its Prism runner from the internet, then falls back;
lambeam runs with nothing but Python, so its default is the in-process FnApiRunner (what the
DirectRunner falls back to). Any runner stays selectable with `--runner`. Beam itself drops an
unknown option with a log line and answers a bad value with a 141-line usage text; here both are
one ConfigError naming the option.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.options.pipeline_options import _BeamArgumentParser as BeamArgumentParser
from apache_beam.runners.runner import PipelineRunner, create_runner

from lambeam.errors import ConfigError

__all__ = ["DEFAULT_RUNNER", "BeamOptions", "parse_beam_options", "runner_that_ran"]

DEFAULT_RUNNER = "FnApiRunner"

# The DirectRunner picks one of these per pipeline; its result's class says which one ran.
_DIRECT_RESULTS = {
    "fn_runner": "FnApiRunner",
    "portable_runner": "PrismRunner",
    "prism_runner": "PrismRunner",
    "direct_runner": "BundleBasedDirectRunner",
}


@dataclass(frozen=True)
class BeamOptions:
    """Checked options and the runner they name (an instance, so its options are registered)."""

    options: PipelineOptions
    runner: PipelineRunner


class _CheckingParser(BeamArgumentParser):
    """Beam's parser, with a bad value raised as one line instead of printed usage and exit."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        raise ConfigError(f"Beam option {message} (the options after `--` go to Beam)")


def parse_beam_options(args: Sequence[str]) -> BeamOptions:
    """PipelineOptions from `args`, with FnApiRunner unless `--runner` names another.

    An option no Beam options class (of Beam, or of the chosen runner) declares is refused,
    naming it and the closest known option.
    """
    args = list(args)
    runner_name = _runner_flag(args)
    if runner_name is None:
        runner_name = DEFAULT_RUNNER
        args = ["--runner", DEFAULT_RUNNER, *args]
    try:
        runner = create_runner(runner_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"Beam runner {runner_name!r} (--runner) cannot be loaded: {str(exc)[:300]}"
        ) from None
    except ValueError:
        known = ", ".join(StandardOptions.KNOWN_RUNNER_NAMES)
        raise ConfigError(
            f"Beam runner {runner_name!r} (--runner) is not one of Beam's runners ({known}) "
            "nor the full name of a PipelineRunner class"
        ) from None
    parser = _CheckingParser(allow_abbrev=False)
    # Importing the runner above registered its own options class (FlinkRunnerOptions, ...).
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(args)
    if unknown:
        raise ConfigError(_unknown_message(unknown[0], parser))
    options = PipelineOptions(args)
    if type(runner).__name__ == "FnApiRunner":
        runner = _in_process_runner(options)
    return BeamOptions(options, runner)


def runner_that_ran(runner: PipelineRunner, result: Any) -> str:
    """The name of the runner that executed: the DirectRunner's choice is read off its result."""
    name = type(runner).__name__
    if name in ("DirectRunner", "SwitchingDirectRunner"):
        module = type(result).__module__.rsplit(".", 1)[-1]
        return _DIRECT_RESULTS.get(module, name)
    return name


def _runner_flag(args: list[str]) -> str | None:
    probe = _CheckingParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--runner")
    known, _ = probe.parse_known_args(args)
    return None if known.runner is None else str(known.runner)


def _in_process_runner(options: PipelineOptions) -> PipelineRunner:
    """The FnApiRunner as the DirectRunner builds it: the options are provisioned to workers."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(info))


def _unknown_message(argument: str, parser: argparse.ArgumentParser) -> str:
    if not argument.startswith("-"):
        return (
            f"unexpected Beam argument {argument!r}: Beam options are --name=value "
            "(after `--`, e.g. `lambeam pipeline run NAME -- --runner=FnApiRunner`)"
        )
    flag = argument.split("=", 1)[0]
    known = [s for action in parser._actions for s in action.option_strings]
    close = difflib.get_close_matches(flag, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "check its spelling in Beam's options"
    return f"unknown Beam option {flag}: no Beam options class declares it; {hint}"
