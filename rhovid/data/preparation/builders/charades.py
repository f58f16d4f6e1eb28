"""Charades (v1) from its CSVs: one multi-label TFDS dataset `charades` (train, test).

Expected files (as distributed by the Allen Institute):
    --source=Charades_v1_480/        <id>.mp4   (9,848 videos)
    --annotations=Charades/          Charades_v1_classes.txt   "c000 Holding some clothes"
                                     Charades_v1_train.csv     id,…,actions,length with actions
                                                               "c092 11.90 21.20;c147 0.00 12.60"
                                     Charades_v1_test.csv      (the same columns)

Each video's labels are the set of classes of its actions (video-level multi-label: the union over
the video's annotated segments; their times are not kept). Videos without any action keep an empty
label set. The classes are c000…c156 in the order of Charades_v1_classes.txt.
"""

from __future__ import annotations

import csv
import os

from .. import builders  # rhovid.data(.preparation).builders, wherever the package lives

SPLITS = (("train", "Charades_v1_train.csv"), ("test", "Charades_v1_test.csv"))


def read_classes(annotations: str) -> tuple[list[str], dict[str, int]]:
    """Class names and code -> index ("c000" -> 0) from Charades_v1_classes.txt."""
    path = os.path.join(annotations, "Charades_v1_classes.txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: --annotations must be Charades' annotation folder.")
    codes, names = [], []
    for line in builders.read_lines(path):
        code, _, text = line.partition(" ")
        codes.append(code)
        names.append(text.strip() or code)
    return names, {c: i for i, c in enumerate(codes)}


def parse_actions(text: str, code_index: dict[str, int], where: str) -> tuple[int, ...]:
    """'c092 11.90 21.20;c147 0.00 12.60' -> (92, 147): sorted, distinct class indices."""
    out = set()
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        code = part.split()[0]
        if code not in code_index:
            raise ValueError(f"{where}: action class {code!r} is not in Charades_v1_classes.txt.")
        out.add(code_index[code])
    return tuple(sorted(out))


def plans(source: str, *, annotations: str | None, name: str | None = None, **unused) -> list[builders.DatasetPlan]:
    """The single plan of Charades; see the module docstring for the expected layout."""
    del unused
    if not annotations:
        raise ValueError("--dataset=charades needs --annotations=<Charades annotation folder>.")
    names, code_index = read_classes(annotations)
    index = builders.VideoIndex(source)
    plan = builders.DatasetPlan(
        name=name or "charades",
        splits={},
        class_names=names,
        description=f"Charades v1, video-level multi-label (official CSVs), prepared from {source}.",
        multi_label=True,
    )
    for split, file in SPLITS:
        path = os.path.join(annotations, file)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found.")
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        plan.splits[split] = [
            builders.VideoItem(
                r["id"],
                index.find(r["id"]),
                labels=parse_actions(r.get("actions", ""), code_index, f"{path} video {r['id']}"),
                expected=f"{r['id']}.mp4",
            )
            for r in rows
        ]
    plan.unlisted = index.unlisted()
    return [plan]
