r"""Check a video dataset before preparing or training: lists against files, and every file probed.

    python -m rhovid.data.check --dataset=kinetics400 --source=/data/k400 \
        --annotations=/data/k400/annotations --workers=32 --min_seconds=1 --report=k400_check.json
    python -m rhovid.data.check --dataset=ucf101 --source=/data/UCF-101 --splits=/data/ucfTrainTestlist

The lists are read by the same builders as `rhovid.data.prepare` (rhovid.data.preparation.builders); each
listed file that exists is probed once (rhovid.data.preparation.decode.probe: frames decoded and counted, fps
from timestamps, duration) in crash-isolated worker processes (rhovid.data.preparation.workers) with a progress
bar. The report (JSON) lists missing files, corrupt files (with the reason), files shorter than
--min_seconds, truncated files (kept by prepare, but noted), files on disk that no list names, and
counts per class and per split. `--quick` only demuxes (counts packets) instead of decoding: much
faster, but it cannot see corrupt frame data.
"""

from __future__ import annotations

import collections
import functools
import json
import os
from collections.abc import Sequence

import tqdm
from absl import flags

from rhovid import cli
from rhovid.data.preparation import builders, decode, workers

_PROBLEMS = ("missing", "corrupt", "too_short")


def check(
    plans: Sequence[builders.DatasetPlan],
    num_workers: int = 1,
    min_seconds: float = 0.0,
    quick: bool = False,
    timeout_s: float | None = 300.0,
    progress: bool = True,
    min_frames: int = decode.DecodeOptions.min_frames,
) -> dict:
    """Probes every listed file of `plans` once and returns the report.

    Args:
      plans: from rhovid.data.preparation.builders.make_plans (e.g. the three folds of UCF101).
      num_workers: probing processes.
      min_seconds: files whose decoded duration is shorter are listed as too short.
      min_frames: files with fewer frames are listed as too short (prepare skips them).
      quick: demux only (count packets) instead of decoding every frame.
      timeout_s: a probe running longer is reported as corrupt with reason `timeout`.
      progress: show a tqdm progress bar with ETA.

    Returns:
      The report: `totals`, `missing`, `corrupt`, `too_short`, `truncated`, `unlisted`,
      `classes` (per class name: listed, ok and each problem) and `splits` (per plan/split).
    """
    entries = []  # (plan, split, item)
    for plan in plans:
        for split, items in plan.splits.items():
            entries += [(plan, split, it) for it in items]
    paths = sorted({it.path for _, _, it in entries if it.path})
    probes: dict[str, object] = {}
    fn = functools.partial(decode.probe, decode_frames=not quick)
    bar = tqdm.tqdm(total=len(paths), unit="video", desc="probe", disable=not progress, smoothing=0.05)
    with workers.IsolatedPool(fn, num_workers, timeout_s=timeout_s) as pool:
        for path, result in pool.map_unordered((p, p) for p in paths):
            probes[path] = result
            bar.update(1)
    bar.close()

    report = {
        "plans": [p.name for p in plans],
        "min_seconds": min_seconds,
        "min_frames": min_frames,
        "quick": quick,
        "missing": [],
        "corrupt": [],
        "too_short": [],
        "truncated": [],
        "unlisted": sorted({u for p in plans for u in p.unlisted}),
        "classes": {},
        "splits": {},
    }
    reported: set[str] = set()
    per_class = collections.defaultdict(collections.Counter)
    counted_for_class: set[tuple[str, str]] = set()
    for plan, split, item in entries:
        status = _status(item, probes.get(item.path), min_seconds, min_frames)
        split_counts = report["splits"].setdefault(
            f"{plan.name}/{split}", {"listed": 0, "ok": 0, **{k: 0 for k in _PROBLEMS}}
        )
        split_counts["listed"] += 1
        split_counts[status] += 1
        key = item.path or f"missing:{item.video_id}"
        if plan.class_names and item.label >= 0 and (key, item.video_id) not in counted_for_class:
            counted_for_class.add((key, item.video_id))
            counts = per_class[plan.class_names[item.label]]
            counts["listed"] += 1
            counts[status] += 1
        if key in reported:
            continue
        reported.add(key)
        _record(report, status, item, probes.get(item.path))
    report["classes"] = {
        c: {k: n.get(k, 0) for k in ("listed", "ok") + _PROBLEMS} for c, n in sorted(per_class.items())
    }
    report["totals"] = {
        "listed_files": len(reported),
        "probed": len(paths),
        "ok": len(reported) - sum(len(report[k]) for k in _PROBLEMS),
        **{k: len(report[k]) for k in _PROBLEMS + ("truncated", "unlisted")},
    }
    return report


def _status(item: builders.VideoItem, probe, min_seconds: float, min_frames: int = 1) -> str:
    if item.path is None or (isinstance(probe, workers.Failure) and probe.reason == decode.MISSING):
        return "missing"
    if not isinstance(probe, decode.VideoStats):
        return "corrupt"
    if probe.duration_s < min_seconds or probe.decoded_frames < min_frames:
        return "too_short"
    return "ok"


def _record(report: dict, status: str, item: builders.VideoItem, probe) -> None:
    base = {"video_id": item.video_id, "path": item.path}
    if status == "missing":
        report["missing"].append(dict(base, expected=item.expected))
    elif status == "corrupt":
        report["corrupt"].append(
            dict(base, reason=getattr(probe, "reason", workers.ERROR), detail=getattr(probe, "detail", repr(probe)))
        )
    elif status == "too_short":
        report["too_short"].append(dict(base, duration_s=probe.duration_s, frames=probe.decoded_frames))
    if isinstance(probe, decode.VideoStats) and probe.truncated:
        report["truncated"].append(
            dict(
                base,
                decoded_frames=probe.decoded_frames,
                header_frames=probe.header_frames,
                decode_errors=probe.errors,
                error=probe.first_error,
            )
        )


def summary_line(report: dict) -> str:
    t = report["totals"]
    return (
        f"{', '.join(report['plans'])}: {t['listed_files']} listed files, {t['ok']} ok, "
        f"{t['missing']} missing, {t['corrupt']} corrupt, {t['too_short']} shorter than "
        f"{report['min_seconds']} s, {t['truncated']} truncated, {t['unlisted']} unlisted on disk"
    )


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags on `fv` (a fresh FlagValues in tests)."""
    d = functools.partial
    d(flags.DEFINE_enum, flag_values=fv)("dataset", None, builders.DATASETS, "Dataset builder.")
    d(flags.DEFINE_string, flag_values=fv)("source", None, "Folder of the source videos.")
    d(flags.DEFINE_string, flag_values=fv)("splits", None, "Split lists folder (ucf101, hmdb51).")
    d(flags.DEFINE_string, flag_values=fv)("annotations", None, "CSV folder (kinetics*).")
    d(flags.DEFINE_string, flag_values=fv)("name", None, "Dataset name instead of the default.")
    d(flags.DEFINE_list, flag_values=fv)("folds", ["1", "2", "3"], "Folds (ucf101, hmdb51).")
    d(flags.DEFINE_integer, flag_values=fv)("workers", os.cpu_count(), "Probing processes.")
    d(flags.DEFINE_float, flag_values=fv)("min_seconds", 1.0, "Report videos shorter than this.")
    d(flags.DEFINE_integer, flag_values=fv)(
        "min_frames", decode.MIN_FRAMES, "Report videos with fewer frames (prepare skips them)."
    )
    d(flags.DEFINE_bool, flag_values=fv)("quick", False, "Only demux (count packets), no decode.")
    d(flags.DEFINE_string, flag_values=fv)("report", None, "Report path (./<dataset>_check.json).")
    flags.mark_flags_as_required(["dataset", "source"], flag_values=fv)


def run(fv: flags.FlagValues = flags.FLAGS) -> dict:
    """Runs the check the parsed flags `fv` ask for; prints the summary, returns the report."""
    plans = builders.make_plans(
        fv.dataset,
        os.path.expanduser(fv.source),
        splits=fv.splits,
        annotations=fv.annotations,
        name=fv.name,
        folds=[int(f) for f in fv.folds],
    )
    report = check(plans, fv.workers, fv.min_seconds, fv.quick, min_frames=fv.min_frames)
    path = fv.report or f"{fv.name or fv.dataset}_check.json"
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(summary_line(report))
    print(f"report: {os.path.abspath(path)}")
    return report


def main(argv: Sequence[str]) -> None:
    del argv
    run()


if __name__ == "__main__":
    define_flags()
    cli.run(main)
