"""Builders of the downstream datasets (Something-Something v2, Charades) on tiny fixture copies.

The fixtures follow the distributed layouts (SSv2's labels.json / train.json / validation.json /
test.json, Charades' classes .txt and CSVs); labels are checked against what the lists say.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
import video_fixtures as vf

from rhovid.data import prepare
from rhovid.data.preparation import builders, decode, writer

OPTS = decode.DecodeOptions(max_fps=30, short_side=32)


def _tiny(path, n=3):
    return vf.write_video(path, num_frames=n, size=(32, 32))


def _read(out, name, split):
    builder = tfds.builder_from_directory(str(writer.dataset_dir(out, name)))
    ds = builder.as_dataset(split=split, decoders={"video": tfds.decode.SkipDecoding()})
    return builder, {ex["video_id"].decode(): ex for ex in tfds.as_numpy(ds)}


def test_ssv2_labels_come_from_templates(tmp_path):
    src, ann = tmp_path / "20bn-something-something-v2", tmp_path / "labels"
    ann.mkdir()
    for vid, n in (("101", 3), ("102", 4), ("201", 5), ("301", 3)):
        _tiny(src / f"{vid}.mp4", n)  # any video extension is found by id
    (ann / "labels.json").write_text(
        json.dumps({"Putting something on something": "1", "Approaching something with your camera": "0"})
    )
    (ann / "train.json").write_text(json.dumps([
        {"id": "101", "label": "putting a cup on a table", "template": "Putting [something] on [something]",
         "placeholders": ["a cup", "a table"]},
        {"id": "102", "label": "approaching a door with your camera",
         "template": "Approaching [something] with your camera", "placeholders": ["a door"]},
        {"id": "999", "label": "x", "template": "Putting [something] on [something]", "placeholders": []},
    ]))  # fmt: skip
    (ann / "validation.json").write_text(json.dumps([
        {"id": "201", "label": "approaching it", "template": "Approaching [something] with your camera"}
    ]))  # fmt: skip
    (ann / "test.json").write_text(json.dumps([{"id": "301"}]))
    (plan,) = builders.make_plans("ssv2", str(src), annotations=str(ann))
    assert plan.name == "ssv2"
    assert plan.class_names == ["Approaching something with your camera", "Putting something on something"]
    report = prepare.prepare(plan, str(tmp_path / "out"), OPTS, progress=False)
    assert [(v["video_id"], v["reason"]) for v in report["skipped"]] == [("999", "missing")]
    got = {s: {k: (int(e["label"]), int(e["num_frames"])) for k, e in _read(tmp_path / "out", "ssv2", s)[1].items()}
           for s in ("train", "validation", "test")}  # fmt: skip
    assert got == {"train": {"101": (1, 3), "102": (0, 4)}, "validation": {"201": (0, 5)}, "test": {"301": (-1, 3)}}


def test_ssv2_unknown_template_is_an_error(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "labels.json").write_text(json.dumps({"Pushing something": "0"}))
    (tmp_path / "train.json").write_text(json.dumps([{"id": "1", "template": "Pulling [something]"}]))
    with pytest.raises(ValueError, match="not in labels.json"):
        builders.make_plans("ssv2", str(tmp_path / "v"), annotations=str(tmp_path))


def test_charades_multi_labels_are_the_classes_of_each_video(tmp_path):
    src, ann = tmp_path / "Charades_v1_480", tmp_path / "Charades"
    ann.mkdir()
    for vid in ("AAA01", "BBB02", "CCC03"):
        _tiny(src / f"{vid}.mp4")
    (ann / "Charades_v1_classes.txt").write_text("c000 Holding some clothes\nc001 Putting clothes somewhere\n"
                                                 "c002 Taking a cup\n")  # fmt: skip
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    (ann / "Charades_v1_train.csv").write_text(
        header
        + 'AAA01,S1,Kitchen,6,7,Yes,"a script",cup,"desc","c002 0.00 5.10;c000 2.00 8.30;c002 9.0 10.0",12.1\n'
        + "BBB02,S2,Bedroom,5,6,Yes,s,,d,,8.0\n"  # no action annotated
    )
    (ann / "Charades_v1_test.csv").write_text(header + "CCC03,S3,Hall,7,7,Yes,s,o,d,c001 1.0 2.0,5.0\n")
    (plan,) = builders.make_plans("charades", str(src), annotations=str(ann))
    assert plan.multi_label and plan.class_names[2] == "Taking a cup"
    assert [(i.video_id, i.labels) for i in plan.splits["train"]] == [("AAA01", (0, 2)), ("BBB02", ())]
    prepare.prepare(plan, str(tmp_path / "out"), OPTS, progress=False)
    builder, train = _read(tmp_path / "out", "charades", "train")
    _, test = _read(tmp_path / "out", "charades", "test")
    assert "label" not in builder.info.features and builder.info.features["labels"].feature.names[0].startswith("Hold")
    assert {k: list(np.asarray(e["labels"])) for k, e in train.items()} == {"AAA01": [0, 2], "BBB02": []}
    assert {k: list(np.asarray(e["labels"])) for k, e in test.items()} == {"CCC03": [1]}


def test_charades_unknown_class_is_an_error(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "Charades_v1_classes.txt").write_text("c000 Holding\n")
    for split in ("train", "test"):
        (tmp_path / f"Charades_v1_{split}.csv").write_text("id,actions\nX,c009 0 1\n")
    with pytest.raises(ValueError, match="c009"):
        builders.make_plans("charades", str(tmp_path / "v"), annotations=str(tmp_path))
