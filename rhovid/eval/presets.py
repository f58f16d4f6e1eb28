"""Presets of the evaluation configs that several protocols share (`configs/eval/*.py:NAME`)."""

from __future__ import annotations

import ml_collections

from rhovid.errors import UserError


def demo(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """`:demo`: evaluate a demo-scale run as the demo's own table does, in seconds on a CPU.

    The clips and the dataset come from the pretrained run (rhovid.eval.inherit); this sets the
    demo's views (2 clips × 1 crop per video, train and test), its kNN k = 20, and for the linear
    protocol the fast probe (features once + logistic regression), which is what the demo reports.
    """
    if value is not None:
        raise UserError(f"Preset 'demo' takes no value (got demo={value}); use :demo.")
    c.data.num_test_clips, c.data.num_test_crops = 2, 1
    c.batch_size = 64
    e = c.eval
    e.batch_size = 64
    e.tsne_points = 500
    if "k" in e:
        e.k = 20
    for key in ("train_clips", "train_crops"):
        if key in e:
            e[key] = 2 if key == "train_clips" else 1
    if c.task == "linear":
        e.fast = True


PRESETS = {"demo": demo}
