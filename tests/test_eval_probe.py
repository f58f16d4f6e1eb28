"""The fast linear probe: separable data, shuffled labels, and the JAX solver against sklearn."""

import numpy as np
import pytest

from rhovid.eval import probe


def _clusters(n_per_class, c, d, spread, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 3.0
    y = np.repeat(np.arange(c), n_per_class)
    return (centers[y] + spread * rng.normal(size=(len(y), d))).astype(np.float32), y


@pytest.mark.parametrize("solver", ["jax", "sklearn"])
def test_separable_features_reach_100_percent(solver):
    x, y = _clusters(40, 5, 16, 0.3, seed=0)
    xt, yt = _clusters(20, 5, 16, 0.3, seed=0)  # same centers (same seed), new noise below
    xt = xt + 0.1 * np.random.default_rng(1).normal(size=xt.shape).astype(np.float32)
    fitted = probe.fit_logistic_probe(x, y, solver=solver, l2_grid=(1e-4, 1e-2))
    assert np.mean(np.argmax(fitted.predict_proba(xt), 1) == yt) == 1.0
    assert set(fitted.val_accuracy) == {1e-4, 1e-2}


def test_shuffled_labels_give_chance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 32)).astype(np.float32)
    y = rng.integers(0, 4, 600)
    xt = rng.normal(size=(2000, 32)).astype(np.float32)
    yt = rng.integers(0, 4, 2000)  # labels independent of features: nothing to learn
    fitted = probe.fit_logistic_probe(x, y, num_classes=4)
    acc = np.mean(np.argmax(fitted.predict_proba(xt), 1) == yt)
    assert abs(acc - 0.25) < 0.05, acc  # 4 classes: chance is 25 %; 3σ ≈ 3 %


def test_jax_solver_matches_sklearn_optimum():
    """Both minimise mean CE + l2/2·||W||²; sklearn's C = 1 / (l2·N) has the same optimum."""
    x, y = _clusters(50, 4, 8, 5.0, seed=3)  # overlapping classes: a well-conditioned optimum
    z = (x - x.mean(0)) / x.std(0)
    for l2 in (1e-3, 1e-1):
        wj, bj = probe._fit(z, y, l2, 4, "jax", 1000, 1e-7)
        ws, bs = probe._fit(z, y, l2, 4, "sklearn", 5000, 1e-10)
        np.testing.assert_allclose(wj, ws, atol=2e-3)  # W is identifiable (penalised) ...
        pj = probe.LogisticProbe(wj, bj, np.zeros(8), np.ones(8), l2, {}).predict_proba(z)
        ps = probe.LogisticProbe(ws, bs, np.zeros(8), np.ones(8), l2, {}).predict_proba(z)
        np.testing.assert_allclose(pj, ps, atol=1e-4)  # ... the bias only up to a shift


def test_held_out_split_is_disjoint_and_complete():
    tr, va = probe.held_out_split(np.zeros(50), 0.2, seed=0)
    assert len(va) == 10 and len(tr) == 40
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(50))
