"""Each ρ objective against an independent NumPy implementation written with explicit loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid.methods import BYOL, MoCo, SimCLR, StepInfo, SwAV
from rhovid.methods.moco import enqueue
from rhovid.methods.swav import sinkhorn

INFO = StepInfo(step=jnp.asarray(0), steps_per_epoch=10)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def np_moco(q, k, queue, t):
    """Mean over videos b, queries i, positives j ≠ i of −log softmax([q·k, q·queue]/t)[0]."""
    q, k, queue = _unit(q), _unit(k), _unit(queue)
    b, v, _ = q.shape
    per_query = np.zeros((b, v))
    for n in range(b):
        for i in range(v):
            losses = []
            for j in range(v):
                if j == i:
                    continue
                logits = np.concatenate([[q[n, i] @ k[n, j]], queue @ q[n, i]]) / t
                losses.append(-_log_softmax(logits)[0])
            per_query[n, i] = np.mean(losses)
    return per_query.mean()


def np_byol(p, z):
    p, z = _unit(p), _unit(z)
    b, v, _ = p.shape
    total = [np.mean([2 - 2 * p[n, i] @ z[n, j] for j in range(v) if j != i]) for n in range(b) for i in range(v)]
    return np.mean(total)


def np_simclr(z, t):
    """For each ordered view pair (i, j): standard 2-view NT-Xent between views i and j."""
    z = _unit(z)
    b, v, _ = z.shape
    pair_losses = []
    for i in range(v):
        for j in range(v):
            if i == j:
                continue
            losses = []
            for n in range(b):
                candidates = [(m, i) for m in range(b) if m != n] + [(m, j) for m in range(b)]
                logits = np.array([z[n, i] @ z[m, w] for m, w in candidates]) / t
                pos = candidates.index((n, j))
                losses.append(-_log_softmax(logits)[pos])
            pair_losses.append(np.mean(losses))
    return np.mean(pair_losses)


def np_sinkhorn(scores, eps, iters):
    """SwAV's reference: Q = exp(S/ε)ᵀ [K, B]; alternate row and column normalisation."""
    q = np.exp(scores / eps).T
    q /= q.sum()
    k, b = q.shape
    for _ in range(iters):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def np_swav(scores, eps, iters, t):
    b, v, _ = scores.shape
    codes = [np_sinkhorn(scores[:, i], eps, iters) for i in range(v)]
    losses = []
    for i in range(v):
        for j in range(v):
            if i != j:
                logp = np.stack([_log_softmax(scores[n, j] / t) for n in range(b)])
                losses.append(-(codes[i] * logp).sum(-1).mean())
    return np.mean(losses)


@pytest.mark.parametrize("views", [2, 4])  # ρ = 1 and ρ = 2 both give 2 views; ρ = 4 gives 4
def test_moco_matches_numpy(views):
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 3, views, 8))
    queue = _unit(rng.normal(size=(12, 8)))
    moco = MoCo(temperature=0.2, queue_size=12)
    state = {"queue": jnp.asarray(queue), "queue_ptr": jnp.asarray(0)}
    loss, metrics, _ = moco({"embedding": q}, {"embedding": k}, state, INFO)
    np.testing.assert_allclose(loss, np_moco(q, k, queue, 0.2), rtol=1e-5)
    assert 0.0 <= float(metrics["moco/accuracy"]) <= 1.0


@pytest.mark.parametrize("views", [2, 4])
def test_byol_matches_numpy(views):
    rng = np.random.default_rng(1)
    p, z = rng.normal(size=(2, 3, views, 8))
    loss, _, _ = BYOL()({"prediction": p, "embedding": p}, {"embedding": z}, {}, INFO)
    np.testing.assert_allclose(loss, np_byol(p, z), rtol=1e-5)


@pytest.mark.parametrize("views", [2, 3, 4])
def test_simclr_matches_numpy(views):
    z = np.random.default_rng(2).normal(size=(5, views, 8))
    loss, _, _ = SimCLR(temperature=0.1)({"embedding": z}, None, {}, INFO)
    np.testing.assert_allclose(loss, np_simclr(z, 0.1), rtol=1e-5)


def test_simclr_two_views_is_the_textbook_nt_xent():
    """With V = 2, the loss is the usual NT-Xent over the 2B clips (SimCLR eq. 1, mean over 2B anchors)."""
    z = _unit(np.random.default_rng(3).normal(size=(4, 2, 8)))
    flat = np.concatenate([z[:, 0], z[:, 1]])  # [2B, d]
    sim = flat @ flat.T / 0.5
    np.fill_diagonal(sim, -np.inf)
    b = 4
    partner = np.concatenate([np.arange(b) + b, np.arange(b)])
    textbook = np.mean([-_log_softmax(sim[a])[partner[a]] for a in range(2 * b)])
    loss, _, _ = SimCLR(temperature=0.5)({"embedding": z}, None, {}, INFO)
    np.testing.assert_allclose(loss, textbook, rtol=1e-5)


@pytest.mark.parametrize("views", [2, 4])
def test_swav_matches_numpy(views):
    rng = np.random.default_rng(4)
    scores = np.tanh(rng.normal(size=(6, views, 5)))  # cosine-like scores in [-1, 1]
    loss, metrics, _ = SwAV(temperature=0.1, epsilon=0.05, sinkhorn_iters=3)({"scores": scores}, None, {}, INFO)
    np.testing.assert_allclose(loss, np_swav(scores, 0.05, 3, 0.1), rtol=1e-4)
    assert np.isfinite(metrics["swav/code_entropy"])


def test_sinkhorn_marginals_and_reference():
    scores = np.tanh(np.random.default_rng(5).normal(size=(32, 8)))
    codes = np.asarray(sinkhorn(jnp.asarray(scores), 0.05, 3))
    np.testing.assert_allclose(codes, np_sinkhorn(scores, 0.05, 3), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(codes.sum(1), 1.0, rtol=1e-5)  # each sample: a distribution
    many = np.asarray(sinkhorn(jnp.asarray(scores), 0.05, 50))
    np.testing.assert_allclose(many.sum(0), 32 / 8, rtol=1e-3)  # converges to the equipartition


def test_moco_queue_is_fifo():
    queue = jnp.zeros((6, 2))
    ptr = jnp.asarray(0)
    batches = [jnp.full((2, 2), float(i + 1)) for i in range(4)]
    for keys in batches:
        queue, ptr = enqueue(queue, ptr, keys)
    # 4 batches of 2 into 6 slots: batch 4 overwrote batch 1 (the oldest), batches 2 and 3 remain.
    np.testing.assert_array_equal(np.asarray(queue)[:, 0], [4, 4, 2, 2, 3, 3])
    assert int(ptr) == 2


def test_moco_enqueues_all_views_of_the_batch():
    rng = np.random.default_rng(6)
    q, k = rng.normal(size=(2, 2, 3, 4))
    moco = MoCo(temperature=0.1, queue_size=12)
    state = moco.init_state(jax.random.PRNGKey(0), 4, num_views=3, batch_size=2)
    _, _, new = moco({"embedding": q}, {"embedding": k}, state, INFO)
    np.testing.assert_allclose(np.asarray(new["queue"])[:6], _unit(k).reshape(6, 4), rtol=1e-6)
    assert int(new["queue_ptr"]) == 6


def test_moco_rejects_a_queue_that_the_batch_does_not_divide():
    with pytest.raises(ValueError, match="queue_size=10"):
        MoCo(queue_size=10).init_state(jax.random.PRNGKey(0), 4, num_views=2, batch_size=4)


def test_byol_gradient_does_not_reach_the_target():
    rng = np.random.default_rng(7)
    p, z = jnp.asarray(rng.normal(size=(2, 3, 2, 4)))
    grad_z = jax.grad(lambda z: BYOL()({"prediction": p}, {"embedding": z}, {}, INFO)[0])(z)
    np.testing.assert_array_equal(grad_z, 0.0)
