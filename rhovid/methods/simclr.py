"""ρSimCLR: NT-Xent with in-batch negatives over the global batch (temperature 0.1).

For an ordered pair of views (i, j) of the same video b, the anchor z[b, i] must pick z[b, j] out of
all view-i and view-j clips of the batch except itself (2B − 1 candidates). With V = 2 this is the
usual SimCLR loss; for V > 2 each view is the query once and its loss is the mean over its V − 1
partner views, as in the paper. Under `jax.jit` the batch is global, so negatives come from every
device (PySlowFast's all-gather with gradient).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def simclr_pair_losses(z: jax.Array, temperature: float) -> jax.Array:
    """[B, V, d] embeddings -> [V, V] NT-Xent of anchor view i against partner view j (mean over B)."""
    z = l2_normalize(z)
    b = z.shape[0]
    sim = jnp.einsum("bid,cjd->ibjc", z, z) / temperature  # [V, B, V, B]
    same = jnp.diagonal(sim, axis1=0, axis2=2).transpose(2, 0, 1)  # [V, B, B]: anchor vs its own view
    same = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, same)
    lse_same = jax.nn.logsumexp(same, axis=-1)  # [V, B]
    lse_other = jax.nn.logsumexp(sim, axis=-1)  # [V, B, V]: vs all clips of view j
    positives = jnp.diagonal(sim, axis1=1, axis2=3).transpose(0, 2, 1)  # [V, B, V]: sim[i, b, j, b]
    denominator = jnp.logaddexp(lse_same[..., None], lse_other)
    # For j == i the "other" set is the same view; those entries are masked out by the caller.
    return (denominator - positives).mean(axis=1)  # [V, V]


@dataclasses.dataclass(frozen=True)
class SimCLR:
    temperature: float = 0.1
    uses_target: bool = False

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        return {}

    def __call__(self, online: Outputs, target: None, state: State, info: StepInfo):
        pair = simclr_pair_losses(online["embedding"], self.temperature)
        return off_diagonal_mean(pair), {}, state
