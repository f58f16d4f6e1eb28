"""Multi-label metrics (Charades protocol): AP / mAP against a hand computation and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from rhovid.eval import metrics


def test_average_precision_by_hand():
    # Ranked: 0.9 (+), 0.8 (−), 0.7 (+), 0.1 (−). Recall steps at ranks 1 and 3: ½·1 + ½·⅔.
    scores, labels = np.array([0.1, 0.9, 0.7, 0.8]), np.array([0, 1, 1, 0])
    assert metrics.average_precision(scores, labels) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # A tie between a positive and a negative at the top is one threshold: P = ½ at R = ½.
    assert metrics.average_precision(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 1])) == pytest.approx(
        0.5 * 0.5 + 0.5 * 2 / 3
    )
    assert np.isnan(metrics.average_precision(np.array([0.3, 0.2]), np.array([0, 0])))


def test_map_matches_sklearn_including_ties_and_empty_classes():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 12)) < 0.15).astype(np.int32)
    labels[:, 5] = 0  # a class without positives is left out of the mean
    scores = np.round(rng.random((200, 12)) + 0.5 * labels, 1)  # rounding makes many ties
    got = metrics.multilabel_metrics(scores, labels)
    present = [c for c in range(12) if labels[:, c].any()]
    want = [sklearn_metrics.average_precision_score(labels[:, c], scores[:, c]) for c in present]
    np.testing.assert_allclose([got["per_class_ap"][c] for c in present], want, rtol=1e-12)
    assert got["per_class_ap"][5] is None
    assert got["mAP"] == pytest.approx(np.mean(want), rel=1e-12)


def test_max_over_views():
    v = np.array([[[0.1, 0.9], [0.7, 0.2]], [[0.3, 0.3], [0.0, 0.4]]])  # [N=2, V=2, C=2]
    np.testing.assert_array_equal(metrics.max_over_views(v), [[0.7, 0.9], [0.3, 0.4]])
    with pytest.raises(ValueError):
        metrics.max_over_views(v[0])
