"""ρMoCo (paper eq. 1): InfoNCE between online queries and momentum-encoder keys, with a queue.

Query view i of video b is q_i (online encoder); its positives are the momentum keys k_j of the
other V−1 views of the same video, its negatives the queue (65,536 keys by default); logits are
dot products of L2-normalised vectors divided by the temperature α = 0.1. With the default
`loss_form="paper"`:

    L_i = −log( Σ_{j≠i} e^{q_i·k_j/α} / (Σ_{j≠i} e^{q_i·k_j/α} + Σ_{n∈queue} e^{q_i·n/α}) ),

averaged over the V queries and the B videos. `pairwise` averages single-positive InfoNCE over
the (i, j) pairs; `official` is PySlowFast's sequential loop: for each query the cross-entropy
averaged over its (V−1)·B positive rows, summed over the V queries (one backward pass per query).

After the step all V keys of the batch are enqueued (PySlowFast's `MOCO_MULTI_VIEW_QUEUE`) into
a ring buffer that overwrites the oldest keys and wraps around its end, so any queue size works
with any batch size and ρ.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, check_loss_form, multi_positive_nce, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def moco_logits(q: jax.Array, k: jax.Array, queue: jax.Array, temperature: float):
    """[B, V, d] queries, [B, V, d] keys, [K, d] queue -> ([B, V, V] positive, [B, V, K] negative) logits."""
    pos = jnp.einsum("bvd,bwd->bvw", q, k) / temperature
    neg = jnp.einsum("bvd,kd->bvk", q, queue.astype(q.dtype)) / temperature
    return pos, neg


def moco_pair_losses(q: jax.Array, k: jax.Array, queue: jax.Array, temperature: float):
    """Single-positive InfoNCE for every (query view, key view) pair.

    Returns:
      ([B, V, V] cross-entropy of query i against positive j, [B, V] top-1 accuracy of query i).
    """
    pos, neg = moco_logits(q, k, queue, temperature)
    lse_neg = jax.nn.logsumexp(neg, axis=-1)  # [B, V]
    ce = jnp.logaddexp(pos, lse_neg[..., None]) - pos  # -log softmax of the positive
    v = q.shape[1]
    hits = (pos > neg.max(axis=-1)[..., None]) & ~jnp.eye(v, dtype=bool)
    return ce, hits.sum(-1) / (v - 1)


def moco_paper_losses(q: jax.Array, k: jax.Array, queue: jax.Array, temperature: float) -> jax.Array:
    """Eq. 1 with the V−1 positives of each query summed in the numerator: [B, V] per-query losses."""
    pos, neg = moco_logits(q, k, queue, temperature)
    v = q.shape[1]
    mask = jnp.broadcast_to(~jnp.eye(v, dtype=bool), pos.shape)
    return multi_positive_nce(pos, mask, jax.nn.logsumexp(neg, axis=-1))


def enqueue(queue: jax.Array, ptr: jax.Array, keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Ring-buffer FIFO: writes `keys` [n, d] from slot `ptr` on, wrapping at the end.

    The n oldest keys are overwritten; with n ≥ queue size only the newest queue-size keys stay.
    Returns (queue, new ptr); `ptr` is always the slot of the oldest key.
    """
    size, n = queue.shape[0], keys.shape[0]
    start = ptr
    if n > size:  # only the newest `size` keys survive one step
        keys, start = keys[n - size :], (ptr + n - size) % size
    slots = (start + jnp.arange(keys.shape[0])) % size  # distinct slots
    return queue.at[slots].set(keys.astype(queue.dtype)), (ptr + n) % size


def init_queue(rng: jax.Array, queue_size: int, embed_dim: int, kind: str) -> jax.Array:
    """The queue before any key was enqueued: unit-norm Gaussian rows, or PySlowFast's uniform."""
    if kind == "normal":
        return l2_normalize(jax.random.normal(rng, (queue_size, embed_dim)))
    if kind == "uniform":  # torch.rand(K, d) · 2·stdv − stdv with stdv = 1/√(d/3): unit norm on average
        stdv = 1.0 / (embed_dim / 3.0) ** 0.5
        return jax.random.uniform(rng, (queue_size, embed_dim), minval=-stdv, maxval=stdv)
    from rhovid.errors import UserError

    raise UserError(f"objective.queue_init={kind!r}; use 'normal' (unit-norm rows) or 'uniform' (PySlowFast).")


@dataclasses.dataclass(frozen=True)
class MoCo:
    temperature: float = 0.1
    queue_size: int = 65536
    loss_form: str = "paper"
    queue_init: str = "normal"
    uses_target: bool = True

    def __post_init__(self):
        check_loss_form(self.loss_form)

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        if self.queue_size < 1:
            from rhovid.errors import UserError

            raise UserError(f"objective.queue_size={self.queue_size} must be >= 1 (the paper uses 65536).")
        queue = init_queue(rng, self.queue_size, embed_dim, self.queue_init)
        return {"queue": queue, "queue_ptr": jnp.zeros((), jnp.int32)}

    def __call__(self, online: Outputs, target: Outputs, state: State, info: StepInfo):
        q = l2_normalize(online["embedding"])
        k = jax.lax.stop_gradient(l2_normalize(target["embedding"]))
        ce, accuracy = moco_pair_losses(q, k, state["queue"], self.temperature)
        if self.loss_form == "paper":
            loss = moco_paper_losses(q, k, state["queue"], self.temperature).mean()
        elif self.loss_form == "pairwise":
            loss = off_diagonal_mean(ce).mean()
        else:  # official: Σ over queries i of the mean over (b, j ≠ i) rows
            loss = off_diagonal_mean(ce).mean() * q.shape[1]
        queue, ptr = enqueue(state["queue"], state["queue_ptr"], k.reshape(-1, k.shape[-1]))
        metrics = {"moco/accuracy": accuracy.mean()}
        return loss, metrics, {"queue": queue, "queue_ptr": ptr}
