"""Something-Something v2 from its JSON lists: one TFDS dataset `ssv2` (train, validation, test).

Expected files (as distributed by Qualcomm / 20BN):
    --source=20bn-something-something-v2/   <id>.webm  (220,847 videos)
    --annotations=labels/                    labels.json      {"Approaching something with your camera": "0", …}
                                             train.json       [{"id": "78687", "template": "Holding [something] next to
                                                               [something]", "label": …, "placeholders": […]}, …]
                                             validation.json  (the same)
                                             test.json        [{"id": "1420"}, …] (no labels)

A video's class is its `template` with the brackets removed, looked up in labels.json (the index
there is the label); the filled-in `label` text is not used. The test split has no labels (-1).
Videos are found by id (file stem) anywhere under the source, any video extension.
"""

from __future__ import annotations

import json
import os

from .. import builders  # rhovid.data(.preparation).builders, wherever the package lives

SPLITS = (("train", "train.json"), ("validation", "validation.json"), ("test", "test.json"))


def read_classes(annotations: str) -> dict[str, int]:
    """Template text without brackets -> label, from labels.json."""
    path = os.path.join(annotations, "labels.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: --annotations must be the folder of SSv2's labels.json.")
    with open(path, encoding="utf-8") as f:
        classes = {name: int(index) for name, index in json.load(f).items()}
    if sorted(classes.values()) != list(range(len(classes))):
        raise ValueError(f"{path}: class indices are not 0..{len(classes) - 1}.")
    return classes


def template_class(template: str) -> str:
    """'Putting [something] onto [something]' -> 'Putting something onto something'."""
    return template.replace("[", "").replace("]", "")


def plans(source: str, *, annotations: str | None, name: str | None = None, **unused) -> list[builders.DatasetPlan]:
    """The single plan of SSv2; see the module docstring for the expected layout."""
    del unused
    if not annotations:
        raise ValueError("--dataset=ssv2 needs --annotations=<folder with labels.json, train.json, ...>.")
    classes = read_classes(annotations)
    names = [n for n, _ in sorted(classes.items(), key=lambda kv: kv[1])]
    index = builders.VideoIndex(source)
    plan = builders.DatasetPlan(
        name=name or "ssv2",
        splits={},
        class_names=names,
        description=f"Something-Something v2 (official JSON lists), prepared from {source}.",
    )
    for split, file in SPLITS:
        path = os.path.join(annotations, file)
        if not os.path.exists(path):
            plan.notes.append(f"{file} not found: no {split} split.")
            continue
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        items = []
        for e in entries:
            vid = str(e["id"])
            label = -1
            if "template" in e:
                cls = template_class(e["template"])
                if cls not in classes:
                    raise ValueError(f"{path}: template {e['template']!r} of video {vid} is not in labels.json.")
                label = classes[cls]
            items.append(builders.VideoItem(vid, index.find(vid), label, expected=f"{vid}.webm"))
        plan.splits[split] = items
    plan.unlisted = index.unlisted()
    return [plan]
