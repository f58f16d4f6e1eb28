r"""Prepare a dataset plan with Apache Beam, through TFDS's own Beam support (extra `beam`).

For datasets too large for one machine: the same plan (`builders`) and the same per-video decode
(`decode.decode_video`, in a one-process `workers.IsolatedPool` per Beam worker, so a decoder crash
still costs one file; all in rhovid.data.preparation) run as a Beam pipeline that TFDS writes:

    pip install 'rhovid[beam]'
    python -m rhovid.data.prepare --beam --dataset=kinetics400 --source=/data/k400 \
        --annotations=/data/k400/annotations --out=gs://bucket/tfds \
        --beam_pipeline_options=runner=DataflowRunner,project=P,region=R,temp_location=gs://b/tmp

The output is the same TFDS dataset directory as the local path (`<out>/<name>/1.0.0`). Every
video's outcome (written with its frame count, or skipped with the reason) is written by the
pipeline as JSON lines under `<out>/<name>/beam_report/`, and merged into the dataset's
`prepare_report.json` when the pipeline is done. Unlike the local path, a failed Beam run does not
resume: TFDS restarts the dataset (Beam itself retries failed work items).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence

import apache_beam as beam
import tensorflow_datasets as tfds
from etils import epath

from rhovid.data import records
from rhovid.data.preparation import builders, decode, workers, writer
from rhovid.data.preparation import report as report_lib


class DecodeVideos(beam.DoFn):
    """(split, VideoItem) -> (video_id, example) on the main output, a JSON outcome on `report`."""

    def __init__(self, options: decode.DecodeOptions, labelled: bool, timeout_s: float = 900.0):
        super().__init__()
        self._options = options
        self._labelled = labelled
        self._timeout_s = timeout_s
        self._pool = None

    def setup(self) -> None:
        fn = functools.partial(decode.decode_video, options=self._options)
        self._pool = workers.IsolatedPool(fn, workers=1, timeout_s=self._timeout_s)

    def process(self, element: tuple[str, builders.VideoItem]) -> Iterator:
        split, item = element
        if item.path is None:
            result = workers.Failure(decode.MISSING, "listed but not found on disk")
        else:
            [(_, result)] = list(self._pool.map_unordered([(0, item.path)]))
        record = report_lib.outcome_record(item, split, result)
        beam.metrics.Metrics.counter("rhovid", record.get("reason", "written")).inc()
        yield beam.pvalue.TaggedOutput("report", json.dumps(record))
        if isinstance(result, decode.DecodedVideo):
            yield item.video_id, report_lib.to_example(item, result, self._labelled)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.close()


class DecodeSplit(beam.PTransform):
    """The examples of one split; writes the split's outcomes to `<report_prefix>-<split>*`."""

    def __init__(self, split: str, items: Sequence[builders.VideoItem], options, labelled: bool, report_prefix: str):
        super().__init__()
        self._split, self._items = split, list(items)
        self._decode = DecodeVideos(options, labelled)
        self._report_prefix = report_prefix

    def expand(self, pbegin):
        out = (
            pbegin
            | "List" >> beam.Create([(self._split, it) for it in self._items])
            | "Reshuffle" >> beam.Reshuffle()
            | "Decode" >> beam.ParDo(self._decode).with_outputs("report", main="examples")
        )
        _ = out.report | "Report" >> beam.io.WriteToText(
            f"{self._report_prefix}-{self._split}", file_name_suffix=".jsonl"
        )
        return out.examples


def make_builder(plan: builders.DatasetPlan, out: str, options: decode.DecodeOptions):
    """A TFDS GeneratorBasedBuilder instance whose splits are DecodeSplit pipelines of `plan`."""
    features = records.features(plan.class_names)
    labelled = plan.class_names is not None
    report_prefix = str(epath.Path(out) / plan.name / "beam_report" / "outcomes")

    class RhovidBeamVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version(writer.VERSION)

        def _info(self) -> tfds.core.DatasetInfo:
            return tfds.core.DatasetInfo(builder=self, features=features, description=plan.description)

        def _split_generators(self, dl_manager):
            del dl_manager
            return {split: self._generate_examples(split, items) for split, items in plan.splits.items()}

        def _generate_examples(self, split, items):
            return DecodeSplit(split, items, options, labelled, report_prefix)

    RhovidBeamVideos.name = plan.name
    return RhovidBeamVideos(data_dir=out)


def prepare_with_beam(
    plan: builders.DatasetPlan,
    out: str,
    options: decode.DecodeOptions,
    pipeline_options: Sequence[str] = (),
) -> dict:
    """Runs `plan` through TFDS + Beam and writes the merged prepare_report.json.

    Args:
      plan: from rhovid.data.preparation.builders.make_plans.
      out: TFDS data dir (local or gs://).
      options: decode options.
      pipeline_options: Beam options as `key=value` strings (e.g. `runner=DirectRunner`).

    Returns:
      The report (same keys as rhovid.data.prepare.prepare's).
    """
    builder = make_builder(plan, out, options)
    report_dir = epath.Path(out) / plan.name / "beam_report"
    report_path = writer.dataset_dir(out, plan.name) / report_lib.REPORT_NAME
    if builder.is_prepared() and report_path.exists():  # TFDS would skip it anyway
        report = json.loads(report_path.read_text())
        print(report_lib.summary_line(report), "(already prepared)")
        return report
    if report_dir.exists():
        report_dir.rmtree()  # outcomes of an earlier, unfinished run
    beam_options = beam.options.pipeline_options.PipelineOptions(flags=[f"--{o}" for o in pipeline_options])
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(beam_options=beam_options))
    by_split = {split: [{"videos": []}] for split in plan.splits}
    for f in sorted(report_dir.glob("outcomes-*.jsonl*")):
        for line in f.read_text().splitlines():
            record = json.loads(line)
            by_split[record["split"]][0]["videos"].append(record)
    report = report_lib.build_report(plan, by_split, options, runner="beam")
    report_path.write_text(json.dumps(report, indent=1))
    print(report_lib.summary_line(report))
    return report
