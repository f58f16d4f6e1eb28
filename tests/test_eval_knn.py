"""Weighted kNN (rhovid.eval.knn.knn_predict) against an independent brute-force NumPy kNN."""

import numpy as np
import pytest

from rhovid.eval import knn


def _brute_force_knn(train, train_labels, test, k, t, c):
    """Per query: cosine similarity to every bank row, k best, votes exp(sim / t) per class."""
    votes = np.zeros((len(test), c))
    for i, q in enumerate(test):
        sims = np.array([np.dot(q, x) / (np.linalg.norm(q) * np.linalg.norm(x)) for x in train])
        nearest = np.argsort(-sims)[:k]
        for j in nearest:
            votes[i, train_labels[j]] += np.exp(sims[j] / t)
    return votes


@pytest.mark.parametrize("k,t,chunk", [(5, 0.07, 4), (200, 0.1, 16), (1, 0.5, 64)])
def test_matches_brute_force(k, t, chunk):
    rng = np.random.default_rng(k)
    n, m, d, c = 60, 23, 12, 7  # 23 queries: chunks of 4 / 16 leave a padded remainder
    train = rng.normal(size=(n, d))
    labels = rng.integers(0, c, n)
    test = rng.normal(size=(m, d))
    got = knn.knn_predict(train, labels, test, k=k, temperature=t, num_classes=c, chunk_size=chunk)
    want = _brute_force_knn(train, labels, test, min(k, n), t, c)  # k=200 > n: the whole bank
    assert got.shape == (m, c)
    np.testing.assert_allclose(got, want, rtol=2e-4)
    np.testing.assert_array_equal(np.argmax(got, 1), np.argmax(want, 1))


def test_scale_invariant_and_clustered_data_classified():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 16)) * 5
    labels = np.repeat(np.arange(3), 20)
    train = centers[labels] + rng.normal(size=(60, 16))
    test = centers[[0, 1, 2, 2]] + rng.normal(size=(4, 16))
    votes = knn.knn_predict(train, labels, test, k=10, temperature=0.1, num_classes=3)
    assert list(np.argmax(votes, 1)) == [0, 1, 2, 2]
    scaled = knn.knn_predict(train * 7.0, labels, test * 0.01, k=10, temperature=0.1, num_classes=3)
    np.testing.assert_allclose(scaled, votes, rtol=1e-4)


def test_bad_shapes_fail_with_the_numbers():
    with pytest.raises(ValueError, match="3 features and 2 labels"):
        knn.knn_predict(np.ones((3, 4)), np.zeros(2), np.ones((1, 4)))
    with pytest.raises(ValueError, match="widths differ"):
        knn.knn_predict(np.ones((3, 4)), np.zeros(3), np.ones((1, 5)))
