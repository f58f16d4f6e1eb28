"""UCF101 from its official lists: one TFDS dataset per fold, `ucf101_split{1,2,3}` (train, test).

Expected files (as distributed by the UCF CRCV site):
    --source=UCF-101/                 <Class>/v_<Class>_gXX_cYY.avi   (13,320 videos)
    --splits=ucfTrainTestlist/        classInd.txt ("1 ApplyEyeMakeup"), trainlist0{k}.txt
                                      ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"),
                                      testlist0{k}.txt ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi")

Videos are found by file stem anywhere under the source (class folders or flat, any video
extension, so re-encoded copies work), ignoring case when the exact stem is absent (the lists spell
`HandStandPushups` where the class is `HandstandPushups`). Labels are classInd's index − 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rhovid.data.preparation import builders


def read_classes(splits_dir: str) -> list[str]:
    """Class names ordered by classInd.txt's 1-based index."""
    path = os.path.join(splits_dir, "classInd.txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: --splits must be the ucfTrainTestlist folder of UCF101.")
    pairs = sorted((int(i), c) for i, c in (line.split(maxsplit=1) for line in builders.read_lines(path)))
    if [i for i, _ in pairs] != list(range(1, len(pairs) + 1)):
        raise ValueError(f"{path}: class indices are not 1..{len(pairs)}.")
    return [c for _, c in pairs]


def read_list(path: str, classes: list[str]) -> list[tuple[str, int]]:
    """(file stem, label) of a train or test list; the label from the class folder of the entry."""
    by_lower = {c.lower(): i for i, c in enumerate(classes)}
    out = []
    for line in builders.read_lines(path):
        parts = line.replace("\\", "/").split()
        entry = parts[0]
        folder, _, filename = entry.rpartition("/")
        if len(parts) > 1:
            label = int(parts[1]) - 1
        elif folder.lower() in by_lower:
            label = by_lower[folder.lower()]
        else:
            raise ValueError(f"{path}: class folder of {entry!r} is not in classInd.txt.")
        out.append((os.path.splitext(filename)[0], label))
    return out


def plans(
    source: str,
    *,
    splits: str | None,
    name: str | None = None,
    folds: Sequence[int] = (1, 2, 3),
    **unused,
) -> list[builders.DatasetPlan]:
    """One plan per fold; see the module docstring for the expected layout."""
    del unused
    if not splits:
        raise ValueError("--dataset=ucf101 needs --splits=<ucfTrainTestlist folder>.")
    classes = read_classes(splits)
    index = builders.VideoIndex(source)
    out = []
    for k in folds:
        split_items = {}
        for split, list_name in (("train", f"trainlist0{k}.txt"), ("test", f"testlist0{k}.txt")):
            path = os.path.join(splits, list_name)
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} not found (UCF101 has folds 1-3; got fold {k}).")
            split_items[split] = [
                builders.VideoItem(
                    video_id=stem,
                    path=index.find(stem, prefer_dir=classes[label]),
                    label=label,
                    expected=f"{classes[label]}/{stem}",
                )
                for stem, label in read_list(path, classes)
            ]
        out.append(
            builders.DatasetPlan(
                name=f"{name or 'ucf101'}_split{k}",
                splits=split_items,
                class_names=classes,
                description=f"UCF101 fold {k} (official lists), prepared from {source}.",
            )
        )
    for plan in out:
        plan.unlisted = index.unlisted()
        if index.case_fixes:
            plan.notes.append(f"{index.case_fixes} list entries matched a file ignoring case.")
    return out
