"""HMDB51 from its official split files: `hmdb51_split{1,2,3}` (train, test).

Expected files (as distributed by the Serre lab):
    --source=hmdb51_org/                    <class>/<video>.avi   (6,766 videos, rar archives unpacked)
    --splits=testTrainMulti_7030_splits/    <class>_test_split<k>.txt, lines "<video>.avi <tag>"
                                            with tag 1 = train, 2 = test, 0 = not in this fold

Class names are the 51 `<class>` prefixes of the split files, sorted (label = position). Videos are
found by file stem anywhere under the source, preferring the class folder.
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Sequence

from rhovid.data.preparation import builders

_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>\d+)\.txt$")
_TAGS = {"1": "train", "2": "test"}


def read_split_files(splits_dir: str) -> dict[int, dict[str, str]]:
    """fold -> {class: split file path}."""
    if not os.path.isdir(splits_dir):
        raise FileNotFoundError(f"--splits={splits_dir!r} is not a directory.")
    out = collections.defaultdict(dict)
    for f in sorted(os.listdir(splits_dir)):
        m = _SPLIT_FILE.match(f)
        if m:
            out[int(m["fold"])][m["cls"]] = os.path.join(splits_dir, f)
    if not out:
        raise FileNotFoundError(
            f"No <class>_test_split<k>.txt files in {splits_dir}: --splits must be the "
            "testTrainMulti_7030_splits folder of HMDB51."
        )
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
        raise ValueError("--dataset=hmdb51 needs --splits=<testTrainMulti_7030_splits folder>.")
    files = read_split_files(splits)
    classes = sorted({c for per_fold in files.values() for c in per_fold})
    index = builders.VideoIndex(source)
    out = []
    for k in folds:
        if k not in files or set(files[k]) != set(classes):
            raise FileNotFoundError(
                f"Fold {k}: split files for classes {sorted(set(classes) - set(files.get(k, {})))} "
                f"are missing in {splits}."
            )
        split_items = {"train": [], "test": []}
        unused_count = 0
        for label, cls in enumerate(classes):
            for line in builders.read_lines(files[k][cls]):
                filename, _, tag = line.rpartition(" ")
                if tag not in _TAGS:
                    unused_count += tag == "0"
                    continue
                stem = os.path.splitext(filename.strip())[0]
                split_items[_TAGS[tag]].append(
                    builders.VideoItem(
                        video_id=stem,
                        path=index.find(stem, prefer_dir=cls),
                        label=label,
                        expected=f"{cls}/{filename.strip()}",
                    )
                )
        plan = builders.DatasetPlan(
            name=f"{name or 'hmdb51'}_split{k}",
            splits=split_items,
            class_names=classes,
            description=f"HMDB51 fold {k} (official 70/30 splits), prepared from {source}.",
        )
        plan.notes.append(f"{unused_count} videos tagged 0 (not in fold {k}) left out.")
        out.append(plan)
    for plan in out:
        plan.unlisted = index.unlisted()
    return out
