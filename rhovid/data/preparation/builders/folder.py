"""A generic folder of videos: class per sub-folder, or unlabelled; one split, `train`.

    --source=DIR/<class>/**/<video>.<ext>   labelled: the first-level sub-folder is the class
    --source=DIR/<video>.<ext>              unlabelled: all videos lie directly in DIR

When there are class folders, videos lying directly in DIR belong to no class and are listed as
unlisted in the report. The video id is the path relative to DIR without its extension. The
dataset name is `--name`, or the folder's name made TFDS-safe.
"""

from __future__ import annotations

import os

from rhovid.data.preparation import builders


def plans(source: str, *, name: str | None = None, **unused) -> list[builders.DatasetPlan]:
    """The single plan of a folder; see the module docstring for the layout."""
    del unused
    index = builders.VideoIndex(source)
    files = sorted(p for ps in index.by_stem.values() for p in ps)
    rel = {p: os.path.relpath(p, source) for p in files}
    classes = sorted({r.split(os.sep)[0] for r in rel.values() if os.sep in r})
    plan = builders.DatasetPlan(
        name=builders.dataset_name(name or os.path.basename(os.path.normpath(source))),
        splits={"train": []},
        class_names=classes or None,
        description=f"Videos of {source} ({'class per sub-folder' if classes else 'unlabelled'}).",
    )
    label_of = {c: i for i, c in enumerate(classes)}
    for p in files:
        r = rel[p]
        if classes and os.sep not in r:
            plan.unlisted.append(p)
            continue
        vid = os.path.splitext(r)[0].replace(os.sep, "/")
        label = label_of[r.split(os.sep)[0]] if classes else -1
        plan.splits["train"].append(builders.VideoItem(vid, p, label, expected=r))
    if plan.unlisted:
        plan.notes.append(f"{len(plan.unlisted)} videos directly in {source} have no class folder.")
    if index.repeated_dirs:
        plan.notes.append(
            f"{len(index.repeated_dirs)} symlinked folders lead to folders already listed "
            f"(entered once): {', '.join(index.repeated_dirs[:3])}."
        )
    return [plan]
