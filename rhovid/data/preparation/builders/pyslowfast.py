"""PySlowFast-style lists: one `path label` line per video, one list file per split.

    --source=PREFIX     the folder the listed paths are relative to (PySlowFast's DATA.PATH_PREFIX;
                        absolute paths in a list are used as they are)
    --splits=DIR        train.csv, val.csv (or validate.csv / validation.csv) and test.csv, each
                        line `path label` (label an integer class index; separated by spaces, a
                        tab or a comma); PySlowFast's DATA.PATH_TO_DATA_DIR

Class names come from `classids.json` or `classnames.json` in DIR when present (`{"name": index}`,
the form PySlowFast's demo uses), else they are the indices as text ("0", "1", ...). The video id
is the listed path without its extension. Listed files that are not on disk are reported as
missing; the dataset name is `--name`, or `pyslowfast`.
"""

from __future__ import annotations

import json
import os
import re

from rhovid.data.preparation import builders
from rhovid.errors import UserError

SPLIT_FILES = {
    "train": ("train.csv",),
    "validation": ("val.csv", "validate.csv", "validation.csv"),
    "test": ("test.csv",),
}
_LINE = re.compile(r"^(?P<path>.*?\S)[\s,]+(?P<label>-?\d+)$")
LAYOUT = "--splits=DIR holding train.csv / val.csv / test.csv with one `path label` line per video"


def read_list(path: str) -> list[tuple[str, int]]:
    """(path, label) of each line of a PySlowFast list; a malformed line raises UserError."""
    rows = []
    for number, line in enumerate(builders.read_lines(path), 1):
        m = _LINE.match(line)
        if not m:
            raise UserError(f"{path}:{number}: {line[:80]!r} is not a `path label` line (label an integer).")
        rows.append((m["path"], int(m["label"])))
    return rows


def _class_names(splits: str, num_classes: int) -> list[str]:
    for name in ("classids.json", "classnames.json"):
        path = os.path.join(splits, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                ids = json.load(f)
            names = [""] * max(num_classes, max(ids.values(), default=-1) + 1)
            for label_name, index in ids.items():
                names[int(index)] = str(label_name)
            return [n or str(i) for i, n in enumerate(names)]
    return [str(i) for i in range(num_classes)]


def plans(source: str, *, splits: str | None = None, name: str | None = None, **unused) -> list[builders.DatasetPlan]:
    """The single plan of PySlowFast lists; see the module docstring for the layout."""
    del unused
    if not splits:
        raise UserError(f"--dataset=pyslowfast needs {LAYOUT}.")
    if not os.path.isdir(splits):
        raise UserError(f"--splits={splits!r} is not a directory; pass {LAYOUT}.")
    if not os.path.isdir(source):
        raise UserError(f"--source={source!r} is not a directory; pass the folder the listed paths are relative to.")
    found = {}
    for split, names in SPLIT_FILES.items():
        for n in names:
            if os.path.exists(os.path.join(splits, n)):
                found[split] = os.path.join(splits, n)
                break
    if not found:
        raise UserError(f"{splits} has no train.csv, val.csv or test.csv; pass {LAYOUT}.")
    rows = {split: read_list(path) for split, path in found.items()}
    num_classes = max((label for r in rows.values() for _, label in r), default=-1) + 1
    plan = builders.DatasetPlan(
        name=builders.dataset_name(name or "pyslowfast"),
        splits={},
        class_names=_class_names(splits, num_classes) if num_classes else None,
        description=f"PySlowFast lists {', '.join(os.path.basename(p) for p in found.values())} of {source}.",
    )
    missing = 0
    for split, items in rows.items():
        plan.splits[split] = []
        for listed, label in items:
            path = os.path.join(source, listed)
            exists = os.path.exists(path)
            missing += not exists
            video_id = os.path.splitext(listed)[0].replace(os.sep, "/").lstrip("/")
            plan.splits[split].append(builders.VideoItem(video_id, path if exists else None, label, expected=listed))
    if missing:
        plan.notes.append(f"{missing} listed videos are not under {source}.")
    return [plan]
