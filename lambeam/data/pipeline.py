"""The Beam pipeline: read → prepare → profile (pass 1) → analyze (pass 2) → build transform → write.

Elements are whole batches (a prepared pandas frame of up to ~64k rows, with the raw rows the
transform takes and each row's split hash), never one Python object per row. Everything a worker
touches goes through fsspec and the (picklable) artifact store, so any runner can execute it.
The last steps write a small result file under the run's scratch location for the driver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
import pandas as pd

from lambeam.data import analyzers
from lambeam.data.beam_options import BeamOptions, runner_that_ran
from lambeam.data.errors import guard, guard_iter
from lambeam.data.frames import column_type, row_hashes, split_of
from lambeam.data.inputs import served_columns
from lambeam.data.numbers import ReadCounts
from lambeam.data.sources import read_batches
from lambeam.data.spec import PipelineSpec
from lambeam.data.steps import PRIVATE, apply_steps
from lambeam.data.transform import build_transform, feature_layout
from lambeam.data.writer import encode_shard, parquet_bytes, sample_rows, smallest, store_shard
from lambeam.errors import ColumnError
from lambeam.storage import ArtifactStore
from lambeam.storage.trusted import dump_pipeline

__all__ = [
    "Batch",
    "FirstPass",
    "MergeFirstPass",
    "MergePartials",
    "ReadAndPrepare",
    "WriteShard",
    "build_pipeline",
    "result_url",
    "run_beam",
]

_ROW = f"{PRIVATE}_row"


@dataclass
class Batch:
    """One prepared batch: the frame after steps, the raw rows it came from, split hashes, and
    what reading it saw (counted even when a filter keeps none of its rows)."""

    frame: pd.DataFrame
    raw: pd.DataFrame
    hashes: np.ndarray
    test: np.ndarray
    raw_types: dict[str, str]
    read: ReadCounts

    @property
    def emptied(self) -> bool:
        """Whether steps removed every row: the batch carries only what reading saw."""
        return self.frame.empty


def result_url(scratch: str) -> str:
    return f"{scratch}/result.json"


class ReadAndPrepare(beam.DoFn):
    """Read one input file in batches and run the filter/derive/function steps on each."""

    def __init__(self, spec: PipelineSpec, storage_options: dict[str, Any]) -> None:
        self.spec = spec
        self.storage_options = storage_options

    def process(self, url: str) -> Iterator[Batch]:
        yield from guard_iter(self._batches(url))

    def _batches(self, url: str) -> Iterator[Batch]:
        spec = self.spec
        steps = [s for s in spec.to_dict()["steps"]]
        for raw, read in read_batches(url, spec.source, self.storage_options):
            raw_types = {str(c): column_type(raw[c]) for c in raw.columns}
            frame = raw
            if steps:
                frame = raw.assign(**{_ROW: np.arange(len(raw))})
                frame = apply_steps(frame, steps, place=f"{spec.place} ")
                positions = frame.pop(_ROW).to_numpy()
            if frame.empty:
                # Its rows are gone but what reading saw counts: values read as null, typos.
                if read.coerced or read.typos:
                    none = np.zeros(0, dtype=np.uint64)
                    yield Batch(frame.iloc[:0], raw.iloc[:0], none, none.astype(bool), {}, read)
                continue
            for col, where in ((spec.split.key, "split.key"), (spec.label, "label")):
                if col is not None and col not in frame.columns:
                    raise ColumnError(
                        f"{spec.place} {where}: unknown column {col!r}; columns are "
                        + ", ".join(map(str, frame.columns))
                    )
            if spec.split.key is not None:
                hashes = row_hashes(frame, spec.split.key, [])
            else:
                hashes = row_hashes(raw, None, list(raw.columns))
                if steps:
                    hashes = hashes[positions]
            frame = frame.reset_index(drop=True)
            # Without steps the frame is the raw rows: one object, so a batch pickles it once
            # (it is stored once and read twice between stages).
            rows = raw.iloc[positions].reset_index(drop=True) if steps else frame
            test = split_of(hashes, spec.split.test)
            yield Batch(frame, rows, hashes, test, raw_types, read)


class MergePartials(beam.CombineFn):
    """Merge analyzers.Partial objects (order-independent by construction)."""

    def create_accumulator(self) -> analyzers.Partial:
        return analyzers.Partial()

    def add_input(self, acc: analyzers.Partial, partial: analyzers.Partial) -> analyzers.Partial:
        return guard(acc.merge)(partial)

    def merge_accumulators(self, accs: Any) -> analyzers.Partial:
        merged = analyzers.Partial()
        for acc in accs:
            guard(merged.merge)(acc)
        return merged

    def extract_output(self, acc: analyzers.Partial) -> analyzers.Partial:
        return acc


@dataclass
class FirstPass:
    """What pass 1 gathers: the profile, and the raw sample (the test rows with the smallest
    split hashes, whatever the batch order)."""

    profile: analyzers.Partial
    sample: pd.DataFrame | None = None

    @classmethod
    def of(cls, batch: Batch, spec: PipelineSpec) -> FirstPass:
        if batch.emptied:
            return cls(analyzers.Partial(read=ReadCounts().merge(batch.read)))
        profile = analyzers.profile_batch(batch.frame, batch.raw_types, spec, batch.read)
        return cls(profile, sample_rows(batch.raw, batch.hashes, batch.test))

    def merge(self, other: FirstPass) -> FirstPass:
        self.profile.merge(other.profile)
        samples = [s for s in (self.sample, other.sample) if s is not None]
        if len(samples) == 2:
            self.sample = smallest(pd.concat(samples, ignore_index=True))
        elif samples:
            self.sample = samples[0]
        return self


class MergeFirstPass(beam.CombineFn):
    """Merge FirstPass objects (order-independent: partials by construction, the sample by
    hash). The profile and the sample share one combine: each combine is a stage of its own."""

    def create_accumulator(self) -> FirstPass:
        return FirstPass(analyzers.Partial())

    def add_input(self, acc: FirstPass, first: FirstPass) -> FirstPass:
        return guard(acc.merge)(first)

    def merge_accumulators(self, accs: Any) -> FirstPass:
        merged = FirstPass(analyzers.Partial())
        for acc in accs:
            guard(merged.merge)(acc)
        return merged

    def extract_output(self, acc: FirstPass) -> FirstPass:
        return acc


def _plan(first: FirstPass, spec: PipelineSpec, store: ArtifactStore) -> dict[str, Any]:
    partial = first.profile
    partial.check_types()
    if partial.rows == 0:
        return {"rows": 0}
    plans = analyzers.plan_columns(spec, partial)
    return {
        "rows": partial.rows,
        "plans": plans,
        "profile": analyzers.finish_profile(partial),
        "raw_types": {name: partial.raw_types[name] for name in partial.raw_names()},
        "raw_sample": _store_sample(first.sample, store),
    }


def _encoder_batch(batch: Batch, plan: dict[str, Any], spec: PipelineSpec) -> analyzers.Partial:
    if batch.emptied:
        return analyzers.Partial()
    return analyzers.encoder_batch(batch.frame, plan["plans"], spec.place)


def _build(
    partial: analyzers.Partial, plan: dict[str, Any], spec: PipelineSpec, store: ArtifactStore
) -> dict[str, Any]:
    if plan["rows"] == 0:
        return {"rows": 0}
    stats = {
        "rows": plan["rows"],
        "profile": plan["profile"],
        "columns": analyzers.finish_encoders(plan["plans"], partial, spec.place),
    }
    steps = [s for s in spec.to_dict()["steps"] if "filter" not in s]
    transform = build_transform(stats, steps)
    declared = [step["function"] for step in steps if "function" in step]
    data, types = dump_pipeline(
        transform, trusted_extra=declared, what=f"pipeline {spec.name}'s transform"
    )
    return {
        "rows": plan["rows"],
        "stats": stats,
        "transform": transform,
        "transform_digest": store.put_bytes(data),
        "transform_types": types,
        "layout": feature_layout(transform, stats),
        "input_columns": [c.to_dict() for c in served_columns(spec, plan["raw_types"], stats)],
        "raw_sample": plan["raw_sample"],
    }


class WriteShard(beam.DoFn):
    """Apply the fitted transform (a side input) to a batch and store the result as a shard."""

    def __init__(self, spec: PipelineSpec, store: ArtifactStore) -> None:
        self.spec = spec
        self.store = store

    def process(self, batch: Batch, built: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if not batch.emptied:
            yield guard(self._write)(batch, built)

    def _write(self, batch: Batch, built: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec
        inputs = batch.raw if spec.transform_steps else batch.frame
        features = built["transform"].transform(inputs)
        passed = {
            c: batch.frame[c] for c in dict.fromkeys((spec.label, spec.split.key)) if c is not None
        }
        table, sums = encode_shard(features, built["layout"], batch.test, passed)
        return store_shard(self.store, table, sums)


def _store_sample(sample: pd.DataFrame | None, store: ArtifactStore) -> str | None:
    if sample is None or sample.empty:
        return None
    import pyarrow as pa

    frame = sample.drop(columns=[c for c in sample.columns if str(c).startswith(PRIVATE)])
    return store.put_bytes(parquet_bytes(pa.Table.from_pandas(frame, preserve_index=False)))


def _write_result(
    _: None,
    built: dict[str, Any],
    shards: list[dict[str, Any]],
    store: ArtifactStore,
    url: str,
) -> None:
    result = {
        key: built[key]
        for key in (
            "rows",
            "stats",
            "transform_digest",
            "transform_types",
            "layout",
            "input_columns",
        )
        if key in built
    }
    result["shards"] = sorted(shards, key=lambda s: s["digest"])
    result["raw_sample"] = built.get("raw_sample")
    with store.open_scratch(url, "wb") as handle:
        handle.write(json.dumps(result, sort_keys=True).encode())


def build_pipeline(
    pipeline: beam.Pipeline,
    spec: PipelineSpec,
    paths: list[str],
    store: ArtifactStore,
    scratch: str,
) -> None:
    """Add the whole dataset-version graph to `pipeline`.

    On the FnApiRunner it fuses into six stages (read with pass 1, plan, pass 2, build, write,
    result; seven for several files, which Create reshuffles), where it was twelve: each stage
    costs its set-up whatever its size. So pass 1's profile and raw sample share one combine,
    combines emit nothing on empty input (`without_defaults`: a default is a stage of its own),
    and the result is written from an element of its own with the shards as a side input, so
    that an empty input still writes one.
    """
    options = dict(store.storage_options)
    batches = (
        pipeline
        # Create reshuffles several elements itself, spreading the files over workers.
        | "input files" >> beam.Create(paths)
        | "read and prepare" >> beam.ParDo(ReadAndPrepare(spec, options))
    )
    first = (
        batches
        | "profile and sample batches" >> beam.Map(guard(FirstPass.of), spec)
        | "merge profiles" >> beam.CombineGlobally(MergeFirstPass()).without_defaults()
    )
    plan = first | "plan columns" >> beam.Map(guard(_plan), spec, store)
    encoders = (
        batches
        | "analyze batches" >> beam.Map(guard(_encoder_batch), beam.pvalue.AsSingleton(plan), spec)
        | "merge analyzers" >> beam.CombineGlobally(MergePartials()).without_defaults()
    )
    built = encoders | "build transform" >> beam.Map(
        guard(_build), beam.pvalue.AsSingleton(plan), spec, store
    )
    shards = batches | "write shards" >> beam.ParDo(
        WriteShard(spec, store), beam.pvalue.AsSingleton(built)
    )
    _ = (
        pipeline
        | "result" >> beam.Create([None])
        | "write result"
        >> beam.Map(
            guard(_write_result),
            beam.pvalue.AsSingleton(built, default_value={"rows": 0}),
            beam.pvalue.AsList(shards),
            store,
            result_url(scratch),
        )
    )


def run_beam(
    spec: PipelineSpec,
    paths: list[str],
    store: ArtifactStore,
    scratch: str,
    options: BeamOptions,
) -> tuple[dict[str, Any], str]:
    """Run the graph on the options' runner; the result file's content and the runner that ran."""
    pipeline = beam.Pipeline(runner=options.runner, options=options.options)
    with pipeline:
        build_pipeline(pipeline, spec, paths, store, scratch)
    with store.open_scratch(result_url(scratch), "rb") as handle:
        result = json.loads(handle.read())
    return result, runner_that_ran(options.runner, pipeline.result)
