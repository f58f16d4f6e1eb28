"""The SSv2 and Charades fine-tuning configs carry the paper's schedule (Table 10 protocols)."""

from __future__ import annotations

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name, arg=None):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, f"configs/eval/{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def test_ssv2_config_is_the_paper_protocol():
    c = _config("ssv2")
    assert (c.task, c.data.name, c.data.eval_split) == ("finetune", "ssv2", "validation")
    assert c.data.temporal_sampling == "segments" and not c.data.flip
    assert (c.data.num_test_clips, c.data.num_test_crops) == (1, 1)
    assert (c.optim.base_lr, c.batch_size, c.optim.base_batch_size, c.num_epochs) == (0.12, 64, 64, 22.0)
    assert [round(22 * f) for f in c.eval.lr_decay_at] == [14, 18] and c.eval.lr_schedule == "steps"
    assert (c.optim.weight_decay, c.eval.dropout_rate, tuple(c.eval.splits)) == (1e-6, 0.5, ())
    assert _config("ssv2", "epochs=2").num_epochs == 2.0


def test_charades_config_is_the_paper_protocol():
    c = _config("charades")
    assert (c.data.num_frames, c.data.frame_stride) == (16, 8)
    assert (c.optim.base_lr, c.batch_size, c.num_epochs, c.optim.warmup_epochs) == (0.2, 64, 60.0, 5.0)
    assert [round(60 * f) for f in c.eval.lr_decay_at] == [40, 50]
    assert (c.optim.weight_decay, c.eval.dropout_rate) == (1e-4, 0.5)
    assert c.eval.multi_label and c.eval.view_pooling == "max"
    assert (c.data.num_test_clips, c.data.num_test_crops) == (10, 3)
    assert c.data.label_key == "labels"  # the multi-label feature (tests/test_multilabel_finetune.py runs it)
