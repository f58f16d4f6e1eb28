"""Multi-label (Charades) fine-tuning: multi-hot targets, sigmoid cross-entropy, max over views, mAP.

The pieces are checked against independent references (a hand-written NumPy loss, a hand multi-hot
vector, scikit-learn's average precision), then the whole protocol runs on a tiny Charades copy
prepared by the Charades builder from its CSVs, and its results.json is checked against the
targets the CSVs define and against scikit-learn on the saved per-video scores.
"""

from __future__ import annotations

import importlib.util
import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import video_fixtures as vf
from sklearn.metrics import average_precision_score

from rhovid import checkpoint, presets
from rhovid import config as config_lib
from rhovid.data import prepare
from rhovid.data.preparation import builders, decode
from rhovid.data.reading import streams
from rhovid.errors import UserError
from rhovid.eval import finetune, metrics, multiview, results
from rhovid.models.resnet3d import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_sigmoid_cross_entropy_is_the_mean_binary_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(6, 5)).astype(np.float32)
    targets = (rng.random((6, 5)) < 0.4).astype(np.float32)
    p = _sigmoid(logits.astype(np.float64))
    want = np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)))  # mean over B and C
    loss, _ = finetune.sigmoid_cross_entropy(jnp.asarray(logits), jnp.asarray(targets))
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_top1_in_labels_counts_clips_whose_best_class_is_a_label():
    logits = np.array([[0.0, 5.0, 1.0], [3.0, 0.0, 1.0], [0.0, 0.0, 9.0], [1.0, 2.0, 3.0]], np.float32)
    targets = np.array([[0, 1, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0]], np.float32)  # last clip: no label
    _, hit = finetune.sigmoid_cross_entropy(jnp.asarray(logits), jnp.asarray(targets))
    assert float(hit) == pytest.approx(2 / 3)  # clips 0 and 2 of the 3 labelled ones


def test_multi_hot_of_class_indices():
    got = streams.multi_hot(tf.constant([3, 0], tf.int64), 5).numpy()
    np.testing.assert_array_equal(got, [1, 0, 0, 1, 0])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(streams.multi_hot(tf.constant([2, 2], tf.int64), 4).numpy(), [0, 0, 1, 0])
    np.testing.assert_array_equal(streams.multi_hot(tf.zeros([0], tf.int64), 3).numpy(), [0, 0, 0])


def test_label_reading_refuses_the_wrong_kind():
    with pytest.raises(UserError, match="multi_label=True"):
        streams._label({"labels": tf.constant([1, 2])}, "labels")
    with pytest.raises(UserError, match="multi_label=False"):
        streams._label({"label": tf.constant(1)}, "label", multi_hot_classes=4)


def test_max_over_views_and_map_match_sklearn():
    rng = np.random.default_rng(1)
    n, v, c = 40, 6, 7
    logits = rng.normal(scale=2.0, size=(n, v, c))
    labels = (rng.random((n, c)) < 0.3).astype(np.float32)
    labels[:, 6] = 0  # a class without a positive test video is left out of the mean
    scores = multiview.pool_view_scores(logits, multi_label=True, pooling="max")
    np.testing.assert_allclose(scores, _sigmoid(logits).max(axis=1), rtol=1e-12)
    got = metrics.multilabel_metrics(scores, labels)
    want = [average_precision_score(labels[:, k], scores[:, k]) for k in range(6)]
    assert got["mAP"] == pytest.approx(np.mean(want), abs=1e-12)
    assert got["per_class_ap"][6] is None
    np.testing.assert_allclose(got["per_class_ap"][:6], want, atol=1e-12)


def test_view_pooling_values_are_checked():
    with pytest.raises(UserError, match="view_pooling='sum'"):
        multiview.check_view_pooling("sum", multi_label=True)
    with pytest.raises(UserError, match="single-label"):
        multiview.check_view_pooling("max", multi_label=False)
    multiview.check_view_pooling("mean", multi_label=False)


# ---------------------------------------------------------------------------------------------
# End to end: the Charades builder, then configs/eval/charades.py on a tiny network.

CLASSES = ("c000 Holding some clothes", "c001 Putting clothes somewhere", "c002 Taking a cup", "c003 Opening a door")
HEADER = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
TRAIN = {  # video id -> actions column
    "TR001": "c002 0.00 5.10;c000 2.00 8.30",
    "TR002": "c001 1.0 2.0",
    "TR003": "",
    "TR004": "c003 0.0 1.0;c001 1.0 2.0;c003 3.0 4.0",
    "TR005": "c000 0.0 1.0",
    "TR006": "c002 0.0 1.0;c003 1.0 2.0",
    "TR007": "c001 0.0 3.0",
    "TR008": "c000 0.0 1.0;c001 1.0 2.0;c002 2.0 3.0",
}
TEST = {
    "TE001": "c000 0.0 1.0;c003 2.0 3.0",
    "TE002": "c001 1.0 2.0",
    "TE003": "c002 0.0 1.0;c001 0.0 2.0",
    "TE004": "",
}
TRAIN_TARGETS = [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0],
                 [1, 1, 1, 0]]  # fmt: skip
TEST_TARGETS = {"TE001": [1, 0, 0, 1], "TE002": [0, 1, 0, 0], "TE003": [0, 1, 1, 0], "TE004": [0, 0, 0, 0]}


class _Recording:
    """A batch source that keeps every batch it yields (attributes pass through to the source)."""

    def __init__(self, source, seen):
        self._source, self._seen = source, seen

    def __iter__(self):
        for batch in self._source:
            self._seen.append(batch)
            yield batch

    def __getattr__(self, name):
        return getattr(self._source, name)


def _rows(targets):
    return sorted(map(tuple, np.asarray(targets).astype(int).tolist()))


def _charades(root):
    """A prepared 4-class Charades copy in `root`/tfds (8 train, 4 test videos of 8 frames)."""
    src, ann = root / "Charades_v1_480", root / "Charades"
    ann.mkdir(parents=True)
    for vid in list(TRAIN) + list(TEST):
        vf.write_video(src / f"{vid}.mp4", num_frames=8, size=(32, 40))
    (ann / "Charades_v1_classes.txt").write_text("\n".join(CLASSES) + "\n")
    for split, rows in (("train", TRAIN), ("test", TEST)):
        lines = [f'{vid},S,Room,6,7,Yes,s,o,d,"{actions}",9.0\n' for vid, actions in rows.items()]
        (ann / f"Charades_v1_{split}.csv").write_text(HEADER + "".join(lines))
    (plan,) = builders.make_plans("charades", str(src), annotations=str(ann))
    prepare.prepare(plan, str(root / "tfds"), decode.DecodeOptions(max_fps=30, short_side=32), progress=False)
    return str(root / "tfds")


def _pretrained(path):
    """The tiny preset's untrained backbone written as an imported checkpoint (no compile)."""
    from test_eval_end_to_end import _he_init  # He-normal kernels, unit BN

    cfg = presets.apply(config_lib.base_config("moco"), "tiny")
    variables = _he_init(build_backbone(cfg.model))
    checkpoint.write_imported(path, cfg, {"backbone": variables["params"]}, {"backbone": variables["batch_stats"]})
    return path


def _eval_config(name, arg, **overrides):
    """configs/eval/<name>.py with `arg`'s presets, then dotted-key overrides ("data.name": ...)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", "eval", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(arg)
    with c.unlocked():
        for key, value in overrides.items():
            *parents, leaf = key.split(".")
            target = c
            for p in parents:
                target = target[p]
            target[leaf] = value
    return c


def _charades_config(arg, **overrides):
    return _eval_config("charades", arg, **overrides)


def test_charades_finetune_end_to_end(tmp_path, monkeypatch):
    data_dir = _charades(tmp_path)
    train_batches, views = [], []
    supervised, run_views = streams.make_supervised_source, multiview.run_views
    monkeypatch.setattr(
        streams, "make_supervised_source", lambda *a, **k: _Recording(supervised(*a, **k), train_batches)
    )

    def recording_run_views(*args, **kwargs):  # keeps the per-view logits of the test
        views.append(run_views(*args, **kwargs))
        return views[-1]

    monkeypatch.setattr(multiview, "run_views", recording_run_views)
    config = _charades_config(
        "tiny,steps=3",
        **{"pretrained": _pretrained(str(tmp_path / "pretrain")), "data.data_dir": data_dir, "batch_size": 8,
           "data.name": "charades",  # the tiny preset switches to synthetic data
           "eval.batch_size": 4, "data.num_test_clips": 2, "data.num_test_crops": 3},
    )  # fmt: skip
    workdir = str(tmp_path / "charades")
    record = finetune.run(config, workdir)

    saved = json.load(open(os.path.join(workdir, results.RESULTS_JSON)))
    assert saved["protocol"] == "finetune" and saved["dataset"] == "charades"
    assert "top1" not in saved["metrics"] and saved["metrics"]["num_examples"] == 4
    assert 0.0 <= saved["metrics"]["mAP"] <= 1.0
    assert saved["eval"]["view_pooling"] == "max" and saved["views"] == {"clips": 2, "crops": 3}
    assert record["metrics"] == saved["metrics"]

    # Training read the train CSV's classes as multi-hot targets: step 1 is one epoch of 8 videos.
    first = train_batches[0]["label"]
    assert first.dtype == np.float32 and _rows(first) == _rows(TRAIN_TARGETS)

    # The saved scores are the max over the 2 × 3 views of each class's sigmoid, the targets the
    # test CSV's classes, and the mAP scikit-learn's on them.
    npz = np.load(os.path.join(workdir, results.SCORES_NPZ))
    scores, targets = npz["scores"], npz["labels"]
    assert scores.shape == targets.shape == (4, 4)
    assert _rows(targets) == _rows(list(TEST_TARGETS.values()))
    (out,) = views
    assert out["logits"].shape == (4, 6, 4)
    np.testing.assert_allclose(scores, _sigmoid(out["logits"].astype(np.float64)).max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(out["label"], targets)
    want = [average_precision_score(targets[:, k], scores[:, k]) for k in range(4)]  # every class has a positive
    assert saved["metrics"]["mAP"] == pytest.approx(np.mean(want), abs=1e-6)
    assert list(saved["per_class_ap"]) == [c.split(" ", 1)[1] for c in CLASSES]

    lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train = [line for line in lines if "train_top1_in_labels" in line]
    assert [line["step"] for line in train] == [1, 2, 3]
    assert all(np.isfinite(line["loss"]) and 0.0 <= line["train_top1_in_labels"] <= 1.0 for line in train)
    assert "mAP" in open(os.path.join(workdir, results.RESULTS_MD)).read()


def test_multi_label_results_report_map_and_per_class_ap(tmp_path):
    config = _charades_config(None, **{"pretrained": "random", "data.num_test_clips": 2})
    scores = np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.7], [0.4, 0.3, 0.2], [0.7, 0.6, 0.1]])
    labels = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]], np.float32)
    record = results.finish_evaluation(
        str(tmp_path), config, None, protocol="finetune", scores=scores, labels=labels, test_features=None,
        num_classes=3, class_names=["a", "b", "c"], extra={"view_pooling": "max"},
    )  # fmt: skip
    # AP by hand: a ranks its positives 1st and 2nd (1.0); b its one positive 1st (1.0); c its
    # positive 2nd behind a negative (precision 1/2 at recall 1): mAP = (1 + 1 + 0.5) / 3.
    assert record["metrics"] == {"mAP": pytest.approx(2.5 / 3), "num_examples": 4}
    assert record["per_class_ap"] == {"a": 1.0, "b": 1.0, "c": 0.5} and record["per_class_accuracy"] is None
    assert json.load(open(tmp_path / results.RESULTS_JSON))["metrics"]["mAP"] == pytest.approx(2.5 / 3)
    md = open(tmp_path / results.RESULTS_MD).read()
    assert "| mAP | 83.33 % |" in md and "2 clips × 3 crops (sigmoid, max over views)" in md
    assert not os.path.exists(tmp_path / results.CONFUSION_PNG)  # no confusion matrix of multi-label data
