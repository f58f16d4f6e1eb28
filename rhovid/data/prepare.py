r"""Prepare a video dataset as TFDS datasets of JPEG frames (decoded once, here, with PyAV).

    python -m rhovid.data.prepare --dataset=ucf101 --source=/data/UCF-101 \
        --splits=/data/ucfTrainTestlist --out=~/tensorflow_datasets --workers=16
    python -m rhovid.data.prepare --dataset=kinetics400 --source=/data/k400 \
        --annotations=/data/k400/annotations --out=/data/tfds --workers=64
    python -m rhovid.data.prepare --dataset=folder --source=/my/videos --out=/data/tfds

Each video is decoded in a worker process (rhovid.data.workers.IsolatedPool: a decoder crash or
hang costs that one file), resampled by timestamp to min(source fps, --fps) and resized to
--short_side, and stored as JPEG frames (rhovid.data.records). Videos that cannot be used are
skipped and listed with the reason in `<dataset dir>/prepare_report.json`, which also pins which
videos made it in (ids, frame counts and their sha256). Shards are written atomically with a
done-marker, so a re-run resumes where the last one stopped. `--beam` runs the same per-video
decode as an Apache Beam pipeline through TFDS instead (rhovid.data.beam_builder).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import tqdm
from absl import flags, logging

from rhovid import cli
from rhovid.data import builders, decode, records, workers, writer

REPORT_NAME = "prepare_report.json"


def to_example(item: builders.VideoItem, video: decode.DecodedVideo, labelled: bool) -> dict:
    """The records.features() dict of one decoded video."""
    ex = {
        records.VIDEO: video.frames,  # [num_frames] JPEG bytes
        records.NUM_FRAMES: video.num_frames,
        records.FPS: video.fps,
        records.VIDEO_ID: item.video_id,
    }
    if labelled:
        ex[records.LABEL] = item.label
    return ex


def outcome_record(item: builders.VideoItem, split: str, result: Any) -> dict:
    """What the report says about one video: written (+ truncated details) or skipped (+ reason)."""
    base = {"split": split, "video_id": item.video_id, "path": item.path}
    if isinstance(result, decode.DecodedVideo):
        s = result.stats
        rec = dict(base, status="written", num_frames=result.num_frames, fps=result.fps)
        if s.truncated:
            rec["truncated"] = {
                "decoded_frames": s.decoded_frames,
                "header_frames": s.header_frames,
                "decode_errors": s.errors,
                "error": s.first_error,
            }
        return rec
    if isinstance(result, workers.Failure):
        return dict(base, status="skipped", reason=result.reason, detail=result.detail, expected=item.expected)
    return dict(
        base,
        status="skipped",
        reason=workers.ERROR,
        detail=f"decode returned {type(result).__name__}",
        expected=item.expected,
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
      plan: from rhovid.data.builders.make_plans.
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
    shard_writer = writer.ShardWriter(directory, plan.name, records.features(plan.class_names))
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
                [(it.video_id, it.path, it.label) for it in items],
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
        outcomes = [outcome_record(it, split, got[j]) for j, it in enumerate(items)]
        examples = [
            to_example(it, got[j], labelled) for j, it in enumerate(items) if isinstance(got[j], decode.DecodedVideo)
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
    report = build_report(
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
    (directory / REPORT_NAME).write_text(json.dumps(report, indent=1))
    logging.info("%s", summary_line(report))
    return report


def _sha256_lines(lines: Sequence[str]) -> str:
    return hashlib.sha256("".join(line + "\n" for line in sorted(lines)).encode()).hexdigest()


def build_report(plan, by_split: dict[str, list[dict]], options, **extra) -> dict:
    """The preparation report from the shard markers (see module docstring)."""
    report = {
        "dataset": plan.name,
        "options": options.__dict__,
        "notes": plan.notes,
        "num_unlisted_files": len(plan.unlisted),
        "splits": {},
        "skipped": [],
        "truncated": [],
        "skip_reasons": {},
        **extra,
    }
    for split, ms in by_split.items():
        videos = [v for m in ms for v in m["videos"]]
        written = {v["video_id"]: v["num_frames"] for v in videos if v["status"] == "written"}
        report["skipped"] += [v for v in videos if v["status"] == "skipped"]
        report["truncated"] += [v for v in videos if "truncated" in v]
        report["splits"][split] = {
            "listed": len(videos),
            "written": len(written),
            "skipped": len(videos) - len(written),
            "frames": sum(written.values()),
            "ids_sha256": _sha256_lines(list(written)),  # which videos
            "frames_sha256": _sha256_lines([f"{k}\t{v}" for k, v in written.items()]),  # + counts
            "videos": written,
        }
    for v in report["skipped"]:
        report["skip_reasons"][v["reason"]] = report["skip_reasons"].get(v["reason"], 0) + 1
    return report


def summary_line(report: dict) -> str:
    """One line of counts: listed, written, skipped by reason, truncated, pin."""
    splits = report["splits"].values()
    listed = sum(s["listed"] for s in splits)
    written = sum(s["written"] for s in splits)
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(report["skip_reasons"].items()))
    pins = " ".join(f"{k}:{s['frames_sha256'][:12]}" for k, s in report["splits"].items())
    return (
        f"{report['dataset']}: {written}/{listed} videos written, "
        f"{listed - written} skipped ({reasons or 'none'}), {len(report['truncated'])} truncated "
        f"(kept), {sum(s['frames'] for s in splits)} frames; sha256 {pins}"
    )


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
    options = decode.DecodeOptions(fv.fps, fv.short_side, fv.jpeg_quality)
    out = os.path.expanduser(fv.out)
    reports = []
    for plan in plans:
        if fv.beam:
            from rhovid.data import beam_builder  # pylint: disable=g-import-not-at-top

            beam_builder.prepare_with_beam(plan, out, options, fv.beam_pipeline_options)
            continue
        report = prepare(plan, out, options, fv.workers, fv.videos_per_shard, fv.timeout_s)
        print(summary_line(report))
        print(f"report: {writer.dataset_dir(out, plan.name) / REPORT_NAME}")
        reports.append(report)
    return reports


def main(argv: Sequence[str]) -> None:
    del argv
    run()


if __name__ == "__main__":
    define_flags()
    cli.run(main)
