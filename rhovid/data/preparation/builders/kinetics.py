"""Kinetics-400/600/700 from the official CSV annotations: `kinetics{400,600,700}`.

Expected files (as distributed by DeepMind / the CVDF mirrors):
    --annotations=DIR   train.csv, validate.csv (or val.csv / validation.csv), test.csv with the
                        header `label,youtube_id,time_start,time_end,split` (the test CSV may have
                        no `label` column; extra columns such as `is_cc` are ignored)
    --source=DIR        videos named `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`, in class
                        folders, split folders or flat; any video extension

Splits: train, validation, test (each only when its CSV exists). Class names are the sorted labels
of the train CSV (label = position); a row without a label (the test split) gets label -1.
Missing clips are expected (YouTube videos disappear) and end up in the report, not in an error.
"""

from __future__ import annotations

import csv
import os

from rhovid.data.preparation import builders

_SPLIT_FILES = {
    "train": ("train.csv",),
    "validation": ("validate.csv", "val.csv", "validation.csv"),
    "test": ("test.csv",),
}


def clip_id(youtube_id: str, time_start: str, time_end: str) -> str:
    """The distributed file stem of a clip, e.g. `--07WQ2iBlw_000001_000011`."""
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"


def read_csv(path: str) -> list[dict[str, str]]:
    """Rows of an annotation CSV, with the columns checked."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    need = {"youtube_id", "time_start", "time_end"}
    if rows and not need <= set(rows[0]):
        raise ValueError(
            f"{path}: columns {sorted(rows[0])} lack {sorted(need - set(rows[0]))}; expected the "
            "official header label,youtube_id,time_start,time_end,split (for PySlowFast-style "
            "`path label` lists use --dataset=pyslowfast --splits=<folder of the lists>)."
        )
    return rows


def find_csvs(annotations: str) -> dict[str, str]:
    """split -> CSV path of the splits present in `annotations`."""
    if not os.path.isdir(annotations):
        raise FileNotFoundError(f"--annotations={annotations!r} is not a directory.")
    found = {}
    for split, names in _SPLIT_FILES.items():
        for n in names:
            if os.path.exists(os.path.join(annotations, n)):
                found[split] = os.path.join(annotations, n)
                break
    if "train" not in found:
        raise FileNotFoundError(f"{annotations} has no train.csv (the class list comes from it).")
    return found


def plans(
    source: str,
    *,
    annotations: str | None,
    num_classes: int,
    name: str | None = None,
    **unused,
) -> list[builders.DatasetPlan]:
    """The single plan of Kinetics-`num_classes`; see the module docstring for the layout."""
    del unused
    if not annotations:
        raise ValueError(f"--dataset=kinetics{num_classes} needs --annotations=<folder of CSVs>.")
    csvs = find_csvs(annotations)
    rows = {split: read_csv(path) for split, path in csvs.items()}
    classes = sorted({r["label"] for r in rows["train"] if r.get("label")})
    plan = builders.DatasetPlan(
        name=name or f"kinetics{num_classes}",
        splits={},
        class_names=classes,
        description=f"Kinetics-{num_classes} ({', '.join(csvs)}), prepared from {source}.",
    )
    if len(classes) != num_classes:
        plan.notes.append(f"train.csv has {len(classes)} classes, not {num_classes}.")
    label_of = {c: i for i, c in enumerate(classes)}
    index = builders.VideoIndex(source)
    for split, split_rows in rows.items():
        items, seen = [], set()
        unknown = 0
        for r in split_rows:
            vid = clip_id(r["youtube_id"], r["time_start"], r["time_end"])
            if vid in seen:
                continue
            seen.add(vid)
            label = label_of.get(r.get("label") or "", -1)
            unknown += bool(r.get("label")) and label < 0
            items.append(
                builders.VideoItem(
                    video_id=vid,
                    path=index.find(vid, prefer_dir=r.get("label")),
                    label=label,
                    expected=f"{r.get('label') or '?'}/{vid}",
                )
            )
        if len(seen) < len(split_rows):
            plan.notes.append(f"{split}: {len(split_rows) - len(seen)} duplicate rows ignored.")
        if unknown:
            plan.notes.append(f"{split}: {unknown} rows with a label not in train.csv (label -1).")
        plan.splits[split] = items
    plan.unlisted = index.unlisted()
    return [plan]
