"""ρBYOL (paper eq. 2): the online prediction regresses the momentum network's projection.

For prediction view i and target view j ≠ i of the same video the loss is 2 − 2·cos(p_i, z_j)
(the paper's −2·cos up to a constant; PySlowFast writes it as −cos/T with T = 0.5).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def byol_pair_losses(p: jax.Array, z: jax.Array) -> jax.Array:
    """[B, V, d] predictions and [B, V, d] targets -> [B, V, V] losses 2 − 2·cos(p_i, z_j)."""
    return 2.0 - 2.0 * jnp.einsum("bvd,bwd->bvw", l2_normalize(p), l2_normalize(z))


@dataclasses.dataclass(frozen=True)
class BYOL:
    uses_target: bool = True

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        return {}

    def __call__(self, online: Outputs, target: Outputs, state: State, info: StepInfo):
        z = jax.lax.stop_gradient(target["embedding"])
        loss = off_diagonal_mean(byol_pair_losses(online["prediction"], z)).mean()
        return loss, {}, state
