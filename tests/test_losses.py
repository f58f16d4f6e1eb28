"""Each ρ objective against an independent NumPy implementation written with explicit loops.

`paper` references are written from the paper's equations (eq. 1 with the positives summed in the
numerator, eq. 2 summed over the positives, the mean over the ρ queries); `official` references
are NumPy transcriptions of PySlowFast's per-query loop (`contrastive_forward`: one loss per query
or per consecutive pair, summed because each is backpropagated on its own); `pairwise` references
average single-positive two-view losses over the ordered view pairs.
"""

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


def np_moco_paper(q, k, queue, t):
    """Eq. 1: L_i = −log(Σ_{j≠i} e^{q_i·k_j/t} / (Σ_{j≠i} e^{q_i·k_j/t} + Σ_n e^{q_i·n/t})), mean over b, i."""
    q, k, queue = _unit(q), _unit(k), _unit(queue)
    b, v, _ = q.shape
    losses = []
    for n in range(b):
        for i in range(v):
            pos = sum(np.exp(q[n, i] @ k[n, j] / t) for j in range(v) if j != i)
            neg = sum(np.exp(q[n, i] @ key / t) for key in queue)
            losses.append(-np.log(pos / (pos + neg)))
    return np.mean(losses)


def np_moco_official(q, k, queue, t):
    """PySlowFast: for each query clip, CE over its (V−1)·B rows [q·k_j, q·queue], mean; summed over queries."""
    q, k, queue = _unit(q), _unit(k), _unit(queue)
    b, v, _ = q.shape
    total = 0.0
    for i in range(v):  # one `model(vids, keys=other_keys)` call and one backward per query clip
        rows = []
        for j in [w for w in range(v) if w != i]:  # logits = cat over other keys, dim 0
            for n in range(b):
                logits = np.concatenate([[q[n, i] @ k[n, j]], queue @ q[n, i]]) / t
                rows.append(-_log_softmax(logits)[0])  # CrossEntropyLoss, target 0
        total += np.mean(rows)
    return total


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


def np_byol_paper(p, z):
    """Eq. 2 summed over the positives, as 2 − 2·s (scale 2, constant 2(V−1)); mean over queries."""
    p, z = _unit(p), _unit(z)
    b, v, _ = p.shape
    return np.mean([sum(2 - 2 * p[n, i] @ z[n, j] for j in range(v) if j != i) for n in range(b) for i in range(v)])


def np_byol_official(p, z):
    """PySlowFast: per query i, mean over keys j ≠ i of sim_loss = −mean_n(p·z)/T, T = 0.5; summed over i."""
    p, z = _unit(p), _unit(z)
    b, v, _ = p.shape
    total = 0.0
    for i in range(v):
        keys = [j for j in range(v) if j != i]
        total += np.mean([-np.mean([p[n, i] @ z[n, j] for n in range(b)]) / 0.5 for j in keys])
    return total


def np_simclr_paper(z, t):
    """Eq. 1 per query (b, i): positives (b, j ≠ i), negatives (m ≠ b, every view w); mean over b, i."""
    z = _unit(z)
    b, v, _ = z.shape
    losses = []
    for n in range(b):
        for i in range(v):
            pos = sum(np.exp(z[n, i] @ z[n, j] / t) for j in range(v) if j != i)
            neg = sum(np.exp(z[n, i] @ z[m, w] / t) for m in range(b) if m != n for w in range(v))
            losses.append(-np.log(pos / (pos + neg)))
    return np.mean(losses)


def _nt_xent(z1, z2, t):
    """PySlowFast's SimCLR branch for one pair: out = cat(q, q2), −log(e^{pos} / Σ_{others} e^{sim}), mean over 2B."""
    out = np.concatenate([z1, z2])
    sim = np.exp(out @ out.T / t)
    denom = sim.sum(1) - np.diag(sim)
    pos = np.exp(np.sum(z1 * z2, -1) / t)
    pos = np.concatenate([pos, pos])
    return np.mean(-np.log(pos / denom))


def np_simclr_official(z, t):
    """PySlowFast: consecutive pairs (k, k+1) only, each NT-Xent over the 2B clips, summed."""
    z = _unit(z)
    return sum(_nt_xent(z[:, i], z[:, i + 1], t) for i in range(z.shape[1] - 1))


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


MOCO_REFS = {"paper": np_moco_paper, "pairwise": np_moco, "official": np_moco_official}
BYOL_REFS = {"paper": np_byol_paper, "pairwise": np_byol, "official": np_byol_official}
SIMCLR_REFS = {"paper": np_simclr_paper, "pairwise": np_simclr, "official": np_simclr_official}
FORMS = ["paper", "pairwise", "official"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("views", [2, 3, 4])  # ρ = 1 and ρ = 2 both give 2 views
def test_moco_matches_numpy(views, form):
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 3, views, 8))
    queue = _unit(rng.normal(size=(12, 8)))
    moco = MoCo(temperature=0.2, queue_size=12, loss_form=form)
    state = {"queue": jnp.asarray(queue), "queue_ptr": jnp.asarray(0)}
    loss, metrics, _ = moco({"embedding": q}, {"embedding": k}, state, INFO)
    np.testing.assert_allclose(loss, MOCO_REFS[form](q, k, queue, 0.2), rtol=1e-5)
    assert 0.0 <= float(metrics["moco/accuracy"]) <= 1.0


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("views", [2, 3, 4])
def test_byol_matches_numpy(views, form):
    rng = np.random.default_rng(1)
    p, z = rng.normal(size=(2, 3, views, 8))
    loss, _, _ = BYOL(loss_form=form)({"prediction": p, "embedding": p}, {"embedding": z}, {}, INFO)
    np.testing.assert_allclose(loss, BYOL_REFS[form](p, z), rtol=1e-5)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("views", [2, 3, 4])
def test_simclr_matches_numpy(views, form):
    z = np.random.default_rng(2).normal(size=(5, views, 8))
    loss, _, _ = SimCLR(temperature=0.1, loss_form=form)({"embedding": z}, None, {}, INFO)
    np.testing.assert_allclose(loss, SIMCLR_REFS[form](z, 0.1), rtol=1e-5)


def test_paper_and_pairwise_agree_at_two_views_and_differ_beyond():
    rng = np.random.default_rng(8)
    z = rng.normal(size=(6, 2, 8))
    np.testing.assert_allclose(np_simclr_paper(z, 0.1), np_simclr(z, 0.1), rtol=1e-10)
    q, k = rng.normal(size=(2, 3, 2, 8))
    queue = rng.normal(size=(12, 8))
    np.testing.assert_allclose(np_moco_paper(q, k, queue, 0.2), np_moco(q, k, queue, 0.2), rtol=1e-10)
    z4 = rng.normal(size=(6, 4, 8))
    loss = SimCLR(temperature=0.1)({"embedding": z4}, None, {}, INFO)[0]
    assert abs(float(loss) / np_simclr(z4, 0.1) - 1) > 0.05  # the default is not the pairwise form


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


def np_swav_official(scores, eps, iters, t):
    """PySlowFast's SwAV branch: codes of crops 0 and 1 only, each predicted by every other crop."""
    b, v, _ = scores.shape
    total = 0.0
    for crop_id in range(2):
        q = np_sinkhorn(scores[:, crop_id], eps, iters)
        sub = 0.0
        for w in [w for w in range(v) if w != crop_id]:
            logp = np.stack([_log_softmax(scores[n, w] / t) for n in range(b)])
            sub -= np.mean(np.sum(q * logp, axis=1))
        total += sub / (v - 1)
    return total / 2


@pytest.mark.parametrize("views", [2, 3, 4])
def test_swav_official_codes_from_two_views(views):
    scores = np.tanh(np.random.default_rng(9).normal(size=(6, views, 5)))
    swav = SwAV(temperature=0.1, epsilon=0.05, sinkhorn_iters=3, loss_form="official")
    loss, _, _ = swav({"scores": scores}, None, {}, INFO)
    np.testing.assert_allclose(loss, np_swav_official(scores, 0.05, 3, 0.1), rtol=1e-4)


@pytest.mark.parametrize("views", [2, 3, 4])
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


@pytest.mark.parametrize("size,n", [(10, 4), (7, 3), (5, 12), (6, 6)])
def test_moco_queue_ring_buffer_matches_a_numpy_fifo(size, n):
    """Any queue size with any keys per step: the queue holds the newest `size` keys, ptr at the oldest."""
    queue, ptr = jnp.zeros((size, 1)), jnp.asarray(0)
    stream = []
    fifo = [0.0] * size  # NumPy/Python FIFO: append the new keys, drop the oldest
    for step in range(7):
        keys = np.arange(step * n, (step + 1) * n, dtype=np.float32)[:, None] + 1
        queue, ptr = enqueue(queue, ptr, jnp.asarray(keys))
        stream.extend(keys[:, 0])
        fifo = (fifo + list(keys[:, 0]))[-size:]
        oldest_first = np.roll(np.asarray(queue)[:, 0], -int(ptr))
        np.testing.assert_array_equal(oldest_first, fifo)
    assert int(ptr) == (7 * n) % size


@pytest.mark.parametrize("rho", [1, 2, 3, 4, 5])
def test_moco_default_queue_works_at_every_rho(rho):
    """65,536 keys with 512 videos × ρ keys per step (not a divisor for ρ = 3, 5): init, step, wrap."""
    views = max(rho, 2)
    moco = MoCo(queue_size=65536)
    state = moco.init_state(jax.random.PRNGKey(0), 16, num_views=views, batch_size=512)
    assert state["queue"].shape == (65536, 16)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(state["queue"]), axis=1), 1.0, rtol=1e-5)
    rng = np.random.default_rng(rho)
    q, k = rng.normal(size=(2, 4, views, 16)).astype(np.float32)  # 4 videos: a small step, the full queue
    state["queue_ptr"] = jnp.asarray(65536 - 3)  # three slots before the end: the enqueue wraps
    loss, _, new = moco({"embedding": q}, {"embedding": k}, state, INFO)
    assert np.isfinite(float(loss))
    keys = _unit(k).reshape(-1, 16)
    got = np.concatenate([np.asarray(new["queue"])[-3:], np.asarray(new["queue"])[: 4 * views - 3]])
    np.testing.assert_allclose(got, keys, rtol=1e-5)
    assert int(new["queue_ptr"]) == 4 * views - 3


def test_moco_uniform_queue_init_is_pyslowfasts():
    queue = np.asarray(
        MoCo(queue_size=4096, queue_init="uniform").init_state(jax.random.PRNGKey(0), 96, num_views=2, batch_size=8)[
            "queue"
        ]
    )
    bound = 1 / np.sqrt(96 / 3)
    assert queue.min() >= -bound and queue.max() <= bound and queue.max() > 0.99 * bound
    np.testing.assert_allclose(np.mean(np.sum(queue**2, 1)), 1.0, rtol=0.01)  # E‖n‖² = d·stdv²/3 = 1


def test_byol_gradient_does_not_reach_the_target():
    rng = np.random.default_rng(7)
    p, z = jnp.asarray(rng.normal(size=(2, 3, 2, 4)))
    grad_z = jax.grad(lambda z: BYOL()({"prediction": p}, {"embedding": z}, {}, INFO)[0])(z)
    np.testing.assert_array_equal(grad_z, 0.0)
