"""The preparation report: what happened to every listed video, and the example each one became.

`prepare_report.json` (in the dataset's directory, written by `rhovid.data.prepare` and by the Beam
path alike) lists, per split, how many videos were listed, written and skipped (with the reason of
each skip: unreadable, too short, not a file, ...), which were truncated but kept, and sha256 pins
of the written ids and frame counts, so that two preparations can be compared at a glance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from rhovid.data import records
from rhovid.data.preparation import builders, decode, workers

REPORT_NAME = "prepare_report.json"


def to_example(item: builders.VideoItem, video: decode.DecodedVideo, labelled: bool, multi_label: bool = False) -> dict:
    """The records.features() dict of one decoded video."""
    ex = {
        records.VIDEO: video.frames,  # [num_frames] JPEG bytes
        records.NUM_FRAMES: video.num_frames,
        records.FPS: video.fps,
        records.VIDEO_ID: item.video_id,
    }
    if labelled and multi_label:
        ex[records.LABELS] = list(item.labels)
    elif labelled:
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
