r"""Prepare a video dataset as TFDS datasets of JPEG frames (decoded once, here, with PyAV).

    python -m rhovid.data.prepare --dataset=ucf101 --source=/data/UCF-101 \
        --splits=/data/ucfTrainTestlist --out=~/tensorflow_datasets --workers=16
    python -m rhovid.data.prepare --dataset=kinetics400 --source=/data/k400 \
        --annotations=/data/k400/annotations --out=/data/tfds --workers=64
    python -m rhovid.data.prepare --dataset=folder --source=/my/videos --out=/data/tfds

Each video is decoded in a worker process (rhovid.data.preparation.workers.IsolatedPool: a decoder crash or
hang costs that one file), resampled by timestamp to min(source fps, --fps) and resized to
--short_side, and stored as JPEG frames (rhovid.data.records). Videos that cannot be used are
skipped and listed with the reason in `<dataset dir>/prepare_report.json`, which also pins which
videos made it in (ids, frame counts and their sha256). Shards are written atomically with a
done-marker, so a re-run resumes where the last one stopped. `--beam` runs the same per-video
decode as an Apache Beam pipeline through TFDS instead (rhovid.data.preparation.beam_builder).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import tqdm
from absl import flags, logging

from rhovid import cli
from rhovid.data import records
from rhovid.data.preparation import builders, decode, workers, writer
from rhovid.data.preparation import report as report_lib
from rhovid.errors import UserError

# What --source (and its lists) should look like, for the error on a source with no videos.
_EXTENSIONS = "/".join(e.lstrip(".") for e in builders.VIDEO_EXTENSIONS[:5]) + "/..."
LAYOUTS = {
    "folder": f"DIR/<class>/<video>.{{{_EXTENSIONS}}} (labelled) or DIR/<video>.mp4 (unlabelled)",
    "ucf101": "DIR/<Class>/v_<Class>_gXX_cYY.avi with --splits=ucfTrainTestlist",
    "hmdb51": "DIR/<class>/<video>.avi with --splits=<folder of <class>_test_split<k>.txt>",
    "kinetics": "DIR/<split>/[<class>/]<youtube_id>_<start>_<end>.mp4 with --annotations=<folder of CSVs>",
    "pyslowfast": "the listed paths under --source=PREFIX, with --splits=<folder of train.csv/val.csv/test.csv "
    "`path label` lists>",
}


def layout(dataset: str) -> str:
    """The expected source layout of `dataset`, in one line."""
    return LAYOUTS["kinetics" if dataset.startswith("kinetics") else dataset]


def check_plan_has_videos(plan: builders.DatasetPlan, dataset: str, source: str) -> None:
    """Raises UserError when a plan lists no video, or none of its listed videos is on disk."""
    items = [it for its in plan.splits.values() for it in its]
    if not items:
        raise UserError(f"No videos found under --source={source} for --dataset={dataset}; expected {layout(dataset)}.")
    if not any(it.path for it in items):
        raise UserError(
            f"None of the {len(items)} videos listed for {plan.name} is under --source={source}; "
            f"expected {layout(dataset)}."
        )


def _shard_specs(plan: builders.DatasetPlan, videos_per_shard: int):
    """(split, index, num_shards, items) of every shard, in a fixed order."""
    for split, items in plan.splits.items():
        n = max(1, math.ceil(len(items) / videos_per_shard))
        for i in range(n):
            yield split, i, n, items[i * videos_per_shard : (i + 1) * videos_per_shard]


def prepare(
    plan: builders.DatasetPlan,
    out: str,
    options: decode.DecodeOptions = decode.DecodeOptions(),
    num_workers: int = 1,
    videos_per_shard: int = 32,
    timeout_s: float | None = 900.0,
    decode_fn: Callable[..., decode.DecodedVideo] = decode.decode_video,
    progress: bool = True,
) -> dict:
    """Decodes and writes `plan` as a TFDS dataset under `out`; resumes finished shards.

    Args:
      plan: from rhovid.data.preparation.builders.make_plans.
      out: TFDS data dir; the dataset goes to writer.dataset_dir(out, plan.name).
      options: frame rate cap, short side, JPEG quality.
      num_workers: decoding processes.
      videos_per_shard: videos per TFRecord shard (also the unit of resumption).
      timeout_s: a video still decoding after this long is skipped as `timeout`.
      decode_fn: decode_video or a stand-in with its signature (tests inject crashes with it).
      progress: show a tqdm progress bar with ETA.

    Returns:
      The report (also written to `<dataset dir>/prepare_report.json`).
    """
    directory = writer.dataset_dir(out, plan.name)
    labelled = plan.class_names is not None
    features = records.features(plan.class_names, multi_label=plan.multi_label)
    shard_writer = writer.ShardWriter(directory, plan.name, features)
    specs = list(_shard_specs(plan, videos_per_shard))
    fps = [
        writer.fingerprint(
            [
                plan.name,
                split,
                i,
                n,
                plan.class_names,
                options.__dict__,
                [(it.video_id, it.path, it.label) + ((it.labels,) if plan.multi_label else ()) for it in items],
            ]
        )
        for split, i, n, items in specs
    ]
    markers = [shard_writer.done_marker(s, i, n, fp) for (s, i, n, _), fp in zip(specs, fps)]
    resumed = sum(m is not None for m in markers)
    if resumed:
        logging.info("%s: %d of %d shards already done, resuming.", plan.name, resumed, len(specs))
    results: dict[int, dict[int, Any]] = {k: {} for k, m in enumerate(markers) if m is None}

    def finish(k: int) -> None:
        split, i, n, items = specs[k]
        got = results.pop(k)
        outcomes = [report_lib.outcome_record(it, split, got[j]) for j, it in enumerate(items)]
        examples = [
            report_lib.to_example(it, got[j], labelled, plan.multi_label)
            for j, it in enumerate(items)
            if isinstance(got[j], decode.DecodedVideo)
        ]
        markers[k] = shard_writer.write_shard(split, i, n, fps[k], examples, {"videos": outcomes})

    tasks = []
    for k in results:
        for j, it in enumerate(specs[k][3]):
            if it.path is None:
                results[k][j] = workers.Failure(decode.MISSING, "listed but not found on disk")
            else:
                tasks.append(((k, j), it.path))
    for k in [k for k in results if len(results[k]) == len(specs[k][3])]:
        finish(k)  # shards with nothing to decode (all missing, or empty splits)

    bar = tqdm.tqdm(
        total=sum(len(s[3]) for s in specs), unit="video", desc=plan.name, disable=not progress, smoothing=0.05
    )
    bar.update(sum(len(s[3]) for s, m in zip(specs, markers) if m is not None))
    skipped = 0
    start = time.time()
    with workers.IsolatedPool(functools.partial(decode_fn, options=options), num_workers, timeout_s=timeout_s) as pool:
        for (k, j), result in pool.map_unordered(tasks):
            results[k][j] = result
            skipped += not isinstance(result, decode.DecodedVideo)
            bar.update(1)
            bar.set_postfix(skipped=skipped, refresh=False)
            if len(results[k]) == len(specs[k][3]):
                finish(k)
    bar.close()
    by_split: dict[str, list[dict]] = {}
    for (split, _, _, _), m in zip(specs, markers):
        by_split.setdefault(split, []).append(m)
    report = report_lib.build_report(
        plan, by_split, options, resumed_shards=resumed, seconds=time.time() - start, crashed_workers=pool.restarts
    )
    shard_writer.finalize(
        by_split,
        plan.description,
        metadata={
            "decode_options": options.__dict__,
            "splits_sha256": {s: r["frames_sha256"] for s, r in report["splits"].items()},
        },
    )
    (directory / report_lib.REPORT_NAME).write_text(json.dumps(report, indent=1))
    logging.info("%s", report_lib.summary_line(report))
    return report


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags on `fv` (a fresh FlagValues in tests)."""
    d = functools.partial
    d(flags.DEFINE_enum, flag_values=fv)("dataset", None, builders.DATASETS, "Dataset builder.")
    d(flags.DEFINE_string, flag_values=fv)("source", None, "Folder of the source videos.")
    d(flags.DEFINE_string, flag_values=fv)("splits", None, "Split lists folder (ucf101, hmdb51).")
    d(flags.DEFINE_string, flag_values=fv)("annotations", None, "CSV folder (kinetics*).")
    d(flags.DEFINE_string, flag_values=fv)("out", None, "TFDS data dir to write to.")
    d(flags.DEFINE_string, flag_values=fv)("name", None, "Dataset name instead of the default.")
    d(flags.DEFINE_list, flag_values=fv)("folds", ["1", "2", "3"], "Folds (ucf101, hmdb51).")
    d(flags.DEFINE_float, flag_values=fv)("fps", records.DEFAULT_MAX_FPS, "Cap on the stored frame rate (0: none).")
    d(flags.DEFINE_integer, flag_values=fv)(
        "short_side", records.DEFAULT_SHORT_SIDE, "Stored short side in pixels (0: keep)."
    )
    d(flags.DEFINE_integer, flag_values=fv)("jpeg_quality", records.JPEG_QUALITY, "JPEG quality.")
    d(flags.DEFINE_integer, flag_values=fv)(
        "min_frames", decode.MIN_FRAMES, "Skip videos with fewer decoded frames (1: keep all)."
    )
    d(flags.DEFINE_integer, flag_values=fv)("workers", os.cpu_count(), "Decoding processes.")
    d(flags.DEFINE_integer, flag_values=fv)("videos_per_shard", 32, "Videos per TFRecord shard.")
    d(flags.DEFINE_float, flag_values=fv)("timeout_s", 900.0, "Skip a video decoding longer.")
    d(flags.DEFINE_bool, flag_values=fv)("beam", False, "Run with TFDS + Apache Beam instead.")
    d(flags.DEFINE_list, flag_values=fv)(
        "beam_pipeline_options", [], "Beam options, e.g. runner=DirectRunner,direct_num_workers=8"
    )
    flags.mark_flags_as_required(["dataset", "source", "out"], flag_values=fv)


def run(fv: flags.FlagValues = flags.FLAGS) -> list[dict]:
    """Prepares what the parsed flags `fv` ask for; prints summaries, returns the reports."""
    plans = builders.make_plans(
        fv.dataset,
        os.path.expanduser(fv.source),
        splits=fv.splits,
        annotations=fv.annotations,
        name=fv.name,
        folds=[int(f) for f in fv.folds],
    )
    options = decode.DecodeOptions(fv.fps, fv.short_side, fv.jpeg_quality, fv.min_frames)
    out = os.path.expanduser(fv.out)
    for plan in plans:
        check_plan_has_videos(plan, fv.dataset, fv.source)
    reports = []
    for plan in plans:
        if fv.beam:
            from rhovid.data.preparation import beam_builder

            beam_builder.prepare_with_beam(plan, out, options, fv.beam_pipeline_options)
            continue
        report = prepare(plan, out, options, fv.workers, fv.videos_per_shard, fv.timeout_s)
        print(report_lib.summary_line(report))
        path = writer.dataset_dir(out, plan.name) / report_lib.REPORT_NAME
        print(f"report: {path}")
        if not sum(s["written"] for s in report["splits"].values()):
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(report["skip_reasons"].items()))
            raise UserError(
                f"No video of --source={fv.source} could be prepared for {plan.name} ({reasons}); "
                f"the reasons per file are in {path}."
            )
        reports.append(report)
    return reports


def main(argv: Sequence[str]) -> None:
    del argv
    run()


if __name__ == "__main__":
    define_flags()
    cli.run(main)
