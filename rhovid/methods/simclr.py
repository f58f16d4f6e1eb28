"""ρSimCLR (paper eq. 1 with in-batch negatives) over the global batch, temperature 0.1.

With the default `loss_form="paper"`, clip (b, i) is the query once; its positives are the other
V−1 clips of video b, its negatives every clip of every other video (all V views: (B−1)·V clips);
the query itself is excluded:

    L_{b,i} = −log( Σ_{j≠i} e^{s(b,i; b,j)/α} / (Σ_{j≠i} e^{s(b,i; b,j)/α} + Σ_{m≠b, w} e^{s(b,i; m,w)/α}) ),

averaged over the B·V queries (s = cosine similarity). At V = 2 this is the usual NT-Xent.

`pairwise`: for each ordered view pair (i, j), the two-view NT-Xent in which anchor (b, i) picks
(b, j) out of the view-i and view-j clips of the batch except itself (2B − 1 candidates); the mean
over the V(V−1) pairs. `official`: PySlowFast's sequential loop over consecutive pairs
(0, 1), (1, 2), …, (V−2, V−1), each the two-view NT-Xent averaged over its 2B anchors, summed over
the V − 1 pairs (one backward pass per pair). Under `jax.jit` the batch is global, so negatives
come from every device (PySlowFast's all-gather with gradient).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, check_loss_form, multi_positive_nce, off_diagonal_mean
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


def simclr_paper_losses(z: jax.Array, temperature: float) -> jax.Array:
    """[B, V, d] embeddings -> [B, V] eq. 1 per query: V−1 positives, (B−1)·V negatives."""
    z = l2_normalize(z)
    b, v, _ = z.shape
    sim = jnp.einsum("bid,mwd->bimw", z, z) / temperature  # [B, V, B, V]
    same_video = jnp.eye(b, dtype=bool)[:, None, :, None]  # [B, 1, B, 1]
    other_view = ~jnp.eye(v, dtype=bool)[None, :, None, :]  # [1, V, 1, V]
    pos_mask = jnp.broadcast_to(same_video & other_view, sim.shape)
    neg_lse = jax.nn.logsumexp(jnp.where(same_video, -jnp.inf, sim), axis=(2, 3))  # [B, V]
    return multi_positive_nce(sim.reshape(b, v, b * v), pos_mask.reshape(b, v, b * v), neg_lse)


@dataclasses.dataclass(frozen=True)
class SimCLR:
    temperature: float = 0.1
    loss_form: str = "paper"
    uses_target: bool = False

    def __post_init__(self):
        check_loss_form(self.loss_form)

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        return {}

    def __call__(self, online: Outputs, target: None, state: State, info: StepInfo):
        z = online["embedding"]
        if self.loss_form == "paper":
            return simclr_paper_losses(z, self.temperature).mean(), {}, state
        pair = simclr_pair_losses(z, self.temperature)
        if self.loss_form == "pairwise":
            return off_diagonal_mean(pair), {}, state
        v = z.shape[1]  # official: Σ over consecutive pairs of the symmetric two-view NT-Xent
        i = jnp.arange(v - 1)
        return (0.5 * (pair[i, i + 1] + pair[i + 1, i])).sum(), {}, state
