"""ρMoCo (paper eq. 1): InfoNCE between online queries and momentum-encoder keys, with a queue.

For query view i and positive key view j ≠ i of the same video, the logits are the positive
q_i·k_j and the negatives q_i·queue (65,536 keys by default), divided by the temperature α = 0.1.
After the step all V keys of the batch are enqueued (PySlowFast's `MOCO_MULTI_VIEW_QUEUE`),
overwriting the oldest entries (FIFO).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def moco_pair_losses(q: jax.Array, k: jax.Array, queue: jax.Array, temperature: float):
    """InfoNCE for every (query view, key view) pair.

    Args:
      q: [B, V, d] L2-normalised online embeddings (queries).
      k: [B, V, d] L2-normalised momentum embeddings (keys; no gradient flows into them).
      queue: [K, d] L2-normalised negatives.
      temperature: α.

    Returns:
      ([B, V, V] cross-entropy of query i against positive j, [B, V] top-1 accuracy of query i).
    """
    pos = jnp.einsum("bvd,bwd->bvw", q, k) / temperature  # [B, V, V]
    neg = jnp.einsum("bvd,kd->bvk", q, queue) / temperature  # [B, V, K]
    lse_neg = jax.nn.logsumexp(neg, axis=-1)  # [B, V]
    ce = jnp.logaddexp(pos, lse_neg[..., None]) - pos  # -log softmax of the positive
    max_neg = neg.max(axis=-1)
    v = q.shape[1]
    hits = (pos > max_neg[..., None]) & ~jnp.eye(v, dtype=bool)
    accuracy = hits.sum(-1) / (v - 1)
    return ce, accuracy


def enqueue(queue: jax.Array, ptr: jax.Array, keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Writes `keys` [n, d] at `ptr` (overwriting the oldest keys); returns (queue, new ptr)."""
    n = keys.shape[0]
    queue = jax.lax.dynamic_update_slice(queue, keys.astype(queue.dtype), (ptr, 0))
    return queue, (ptr + n) % queue.shape[0]


@dataclasses.dataclass(frozen=True)
class MoCo:
    temperature: float = 0.1
    queue_size: int = 65536
    uses_target: bool = True

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        if self.queue_size % (num_views * batch_size):
            raise ValueError(
                f"objective.queue_size={self.queue_size} must be a multiple of the keys enqueued per "
                f"step (batch_size × views = {batch_size} × {num_views}); e.g. use "
                f"{(self.queue_size // (num_views * batch_size) or 1) * num_views * batch_size}."
            )
        queue = l2_normalize(jax.random.normal(rng, (self.queue_size, embed_dim)))
        return {"queue": queue, "queue_ptr": jnp.zeros((), jnp.int32)}

    def __call__(self, online: Outputs, target: Outputs, state: State, info: StepInfo):
        q = l2_normalize(online["embedding"])
        k = jax.lax.stop_gradient(l2_normalize(target["embedding"]))
        ce, accuracy = moco_pair_losses(q, k, state["queue"], self.temperature)
        loss = off_diagonal_mean(ce).mean()
        queue, ptr = enqueue(state["queue"], state["queue_ptr"], k.reshape(-1, k.shape[-1]))
        metrics = {"moco/accuracy": accuracy.mean()}
        return loss, metrics, {"queue": queue, "queue_ptr": ptr}
