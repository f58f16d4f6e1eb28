"""Metrics and multi-view averaging against hand computations; `run_views` on 8 devices."""

import functools
import math

import numpy as np
import pytest

from rhovid import sharding
from rhovid.eval import metrics, multiview


def test_view_averaging_is_mean_of_softmaxes():
    # Video 0: view 1 softmax([0, ln 3]) = [1/4, 3/4]; view 2 softmax([5, 5]) = [1/2, 1/2].
    # Video 1: softmax([ln 4, 0]) = [4/5, 1/5]; softmax([0, ln 4]) = [1/5, 4/5].
    logits = np.array([[[0.0, math.log(3)], [5.0, 5.0]], [[math.log(4), 0.0], [0.0, math.log(4)]]])  # [N=2, V=2, C=2]
    probs = multiview.average_view_probabilities(logits)
    np.testing.assert_allclose(probs, [[3 / 8, 5 / 8], [1 / 2, 1 / 2]], atol=1e-12)


def test_view_averaging_differs_from_logit_averaging():
    # softmax([3, 0]) ≈ [.953, .047], softmax([0, 1]) ≈ [.269, .731] -> mean [.611, .389]: class 0.
    # Averaged logits [1.5, 0.5] also say class 0, but with prob .731, not .611.
    probs = multiview.average_view_probabilities(np.array([[[3.0, 0.0], [0.0, 1.0]]]))
    e3, e1 = math.exp(3), math.exp(1)
    want0 = (e3 / (e3 + 1) + 1 / (1 + e1)) / 2
    np.testing.assert_allclose(probs[0, 0], want0, rtol=1e-12)


def test_feature_averaging_and_shape_checks():
    f = np.arange(12.0).reshape(2, 3, 2)  # [N, V, D]
    np.testing.assert_allclose(multiview.average_view_features(f), [[2, 3], [8, 9]])
    with pytest.raises(ValueError, match=r"\[N, V, C\]"):
        multiview.average_view_probabilities(np.zeros((2, 3)))


def test_topk_per_class_confusion_by_hand():
    scores = np.array(
        [
            [0.1, 0.7, 0.2],  # label 1: top-1 hit
            [0.5, 0.3, 0.2],  # label 2: miss at top-1 and top-2, hit at top-3
            [0.2, 0.3, 0.5],  # label 0: rank 3, hit only at top-3
            [0.6, 0.3, 0.1],
        ]
    )  # label 0: hit
    labels = np.array([1, 2, 0, 0])
    assert metrics.topk_accuracy(scores, labels, 1) == 0.5
    assert metrics.topk_accuracy(scores, labels, 2) == 0.5
    assert metrics.topk_accuracy(scores, labels, 3) == 1.0
    assert metrics.topk_accuracy(scores, labels, 5) == 1.0  # k clipped to C
    preds = scores.argmax(1)  # [1, 0, 2, 0]
    cm = metrics.confusion_matrix(preds, labels, 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(metrics.per_class_accuracy(preds, labels, 3), [0.5, 1.0, 0.0])
    m = metrics.classification_metrics(scores, labels, num_classes=4)  # class 3 never appears
    assert m["per_class_accuracy"] == [0.5, 1.0, 0.0, None]
    assert m["mean_class_accuracy"] == pytest.approx(0.5)
    assert m["num_examples"] == 4
    assert "top5" not in m  # 4 classes: top-5 would always be 100 %
    six_scores = np.array(
        [[0.5, 0.9, 0.1, 0.2, 0.3, 0.4], [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]]
    )  # label 2 is 3rd, within the top 5
    six = metrics.classification_metrics(six_scores, np.array([0, 0, 2]))
    assert six["top5"] == 1.0 and six["top1"] == pytest.approx(1 / 3)


def test_three_split_mean_and_std():
    mean, std = metrics.mean_and_std([0.90, 0.92, 0.94])
    assert mean == pytest.approx(0.92)
    assert std == pytest.approx(math.sqrt((0.02**2 + 0 + 0.02**2) / 3))
    assert metrics.mean_and_std([0.5]) == (0.5, 0.0)


def test_run_views_flattens_masks_and_restores_views():
    mesh = sharding.make_mesh()  # 8 CPU devices (tests/conftest.py)
    b, v = 4, 6  # 24 views per batch: divisible by the 8 devices

    def batches():
        for i in range(3):
            ids = np.arange(i * b, (i + 1) * b)  # video ids
            clips = np.zeros((b, v, 1, 2, 2, 3), np.uint8)
            clips += (ids[:, None] * 10 + np.arange(v)[None])[:, :, None, None, None, None].astype(np.uint8)
            mask = np.ones(b, bool)
            if i == 2:
                mask[2:] = False  # the last batch is padding after two real videos
            yield {"clips": clips, "label": ids % 3, "mask": mask}

    fn = lambda clips: {"value": clips[:, 0, 0, 0, :1].astype(np.float32)}  # [B·V, 1]
    out = multiview.run_views(fn, batches(), functools.partial(sharding.to_global, mesh=mesh))
    assert out["value"].shape == (10, v, 1)
    want = np.arange(10)[:, None] * 10 + np.arange(v)[None]  # video id·10 + view
    np.testing.assert_array_equal(out["value"][..., 0], want)
    np.testing.assert_array_equal(out["label"], np.arange(10) % 3)
    capped = multiview.run_views(fn, batches(), functools.partial(sharding.to_global, mesh=mesh), max_examples=5)
    assert capped["value"].shape[0] == 5 and list(capped["label"]) == [0, 1, 2, 0, 1]


def test_run_views_with_several_labels():
    mesh = sharding.make_mesh()
    clips = np.broadcast_to(np.arange(8, dtype=np.uint8)[:, None, None, None, None, None], (8, 1, 1, 1, 1, 3))
    batch = {
        "clips": np.ascontiguousarray(clips),  # video i is all i
        "label": {"digit": np.arange(8) % 4, "motion": np.arange(8) % 2},
        "mask": np.array([True] * 6 + [False] * 2),
    }
    fn = lambda clips: {"value": clips[:, 0, 0, 0, :1].astype(np.float32)}  # [B, 1]
    out = multiview.run_views(fn, [batch], functools.partial(sharding.to_global, mesh=mesh), max_examples=5)
    np.testing.assert_array_equal(out["value"][:, 0, 0], np.arange(5))
    np.testing.assert_array_equal(out["label"]["digit"], np.arange(5) % 4)
    np.testing.assert_array_equal(out["label"]["motion"], np.arange(5) % 2)
