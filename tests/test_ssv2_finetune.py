"""configs/eval/ssv2.py end to end: the SSv2 builder's JSON lists, then fine-tuning a tiny network.

Every stored frame says which source frame it is (tests/video_fixtures.py: blue = 37·index, a red
ramp rising from left to right), and every video of a class has the same length, so the batches
the fine-tuning loop really trained and tested on can be checked: each frame inside its segment
(training) or at its segment's centre (test), as the formula of rhovid/data/reading/segments.py
gives them (worked out by hand below), and the ramp never reversed (no flip).
"""

from __future__ import annotations

import json
import os

import numpy as np
import video_fixtures as vf
from test_multilabel_finetune import _eval_config, _pretrained, _Recording

from rhovid.data import prepare
from rhovid.data.preparation import builders, decode
from rhovid.data.reading import streams
from rhovid.eval import features, finetune

TEMPLATES = {
    "Pushing something from left to right": "0",
    "Pushing something from right to left": "1",
    "Turning something upside down": "2",
}
LENGTHS = (5, 6, 7)  # frames of every video of class 0, 1, 2
T = 4  # the tiny preset's num_frames: four segments
# seg = (N − 1) / T, start_i = round(seg·i), end_i = round(seg·(i + 1)), half to even, by hand:
#   N=5: seg 1    -> starts 0 1 2 3, ends 1 2 3 4
#   N=6: seg 1.25 -> starts 0 1 2 4 (2.5 -> 2, 3.75 -> 4), ends 1 2 4 5
#   N=7: seg 1.5  -> starts 0 2 3 4 (1.5 -> 2, 4.5 -> 4), ends 2 3 4 6
SEGMENTS = {0: ([0, 1, 2, 3], [1, 2, 3, 4]), 1: ([0, 1, 2, 4], [1, 2, 4, 5]), 2: ([0, 2, 3, 4], [2, 3, 4, 6])}
CENTRES = {0: [0, 1, 2, 3], 1: [0, 1, 3, 4], 2: [1, 2, 3, 5]}  # ⌊(start + end) / 2⌋


def _entry(vid, label):
    template = {v: k for k, v in TEMPLATES.items()}[str(label)]
    return {"id": vid, "label": template.lower(), "template": template.replace("something", "[something]")}


def _ssv2(root):
    """A prepared 3-class SSv2 copy in `root`/tfds: 8 train videos, 3 validation videos."""
    src, ann = root / "20bn-something-something-v2", root / "labels"
    ann.mkdir(parents=True)
    splits = {"train": [(str(i), i % 3) for i in range(1, 9)], "validation": [(str(100 + c), c) for c in range(3)]}
    for items in splits.values():
        for vid, label in items:
            vf.write_video(src / f"{vid}.mp4", LENGTHS[label], size=(32, 40))
    (ann / "labels.json").write_text(json.dumps(TEMPLATES))
    for split, items in splits.items():
        (ann / f"{split}.json").write_text(json.dumps([_entry(v, c) for v, c in items]))
    (plan,) = builders.make_plans("ssv2", str(src), annotations=str(ann))
    prepare.prepare(plan, str(root / "tfds"), decode.DecodeOptions(max_fps=30, short_side=32), progress=False)
    return str(root / "tfds")


def _frame_indices(clip):
    """uint8 [T, H, W, 3] -> [T] source frame indices (blue = 37·index; the white square is small)."""
    return np.round(np.median(clip[..., 2].reshape(len(clip), -1), axis=1) / 37).astype(int)


def _ramp_rises(clip):
    """Whether every frame's red ramp still rises from the left edge to the right one (not flipped)."""
    return all(np.median(f[:, :8, 0]) + 40 < np.median(f[:, -8:, 0]) for f in clip)


def test_ssv2_finetune_end_to_end(tmp_path, monkeypatch):
    data_dir = _ssv2(tmp_path)
    train_cfgs, train_batches, test_batches = [], [], []
    supervised, eval_batches = streams.make_supervised_source, features.eval_batches

    def recording_supervised(data_cfg, *args, **kwargs):
        train_cfgs.append(data_cfg)
        return _Recording(supervised(data_cfg, *args, **kwargs), train_batches)

    monkeypatch.setattr(streams, "make_supervised_source", recording_supervised)
    monkeypatch.setattr(features, "eval_batches", lambda *a, **k: _Recording(eval_batches(*a, **k), test_batches))
    config = _eval_config(
        "ssv2",
        "tiny,steps=2",
        **{"pretrained": _pretrained(str(tmp_path / "pretrain")), "data.data_dir": data_dir,
           "data.name": "ssv2",  # the tiny preset switches to synthetic data
           "batch_size": 8, "eval.batch_size": 8, "eval.tsne_points": 3},
    )  # fmt: skip
    workdir = str(tmp_path / "ssv2")
    record = finetune.run(config, workdir)

    assert record["protocol"] == "finetune" and record["dataset"] == "ssv2" and record["eval_split"] == "validation"
    assert record["views"] == {"clips": 1, "crops": 1} and record["metrics"]["num_examples"] == 3
    assert 0.0 <= record["metrics"]["top1"] <= 1.0
    assert os.path.exists(os.path.join(workdir, "confusion.png"))

    (cfg,) = train_cfgs
    assert cfg.temporal_sampling == "segments" and cfg.flip is False and cfg.num_frames == T
    assert len(train_batches) >= 2  # the loop trained on these (it may read one ahead)
    for batch in train_batches[:2]:
        for clip, label in zip(batch["clips"][:, 0], batch["label"]):  # [B, 1, T, H, W, 3]
            starts, ends = SEGMENTS[int(label)]
            idx = _frame_indices(clip)
            assert np.all((starts <= idx) & (idx <= ends)), (int(label), idx)
            assert _ramp_rises(clip), "a training clip was flipped"
    seen = {}
    for batch in test_batches:
        for clip, label, real in zip(batch["clips"][:, 0], batch["label"], batch["mask"]):
            if real:
                seen[int(label)] = _frame_indices(clip).tolist()
                assert _ramp_rises(clip)
    assert seen == CENTRES
