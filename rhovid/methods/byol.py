"""ρBYOL (paper eq. 2): the online prediction regresses the momentum network's projection.

With p_i the online prediction of view i and z_j the momentum network's projection of view j of
the same video, s(p, z) their cosine similarity, the default `loss_form="paper"` is

    L_i = Σ_{j≠i} (2 − 2·s(p_i, z_j)) = ‖p̂_i − ẑ_j‖² summed over the V−1 positives,

averaged over the V queries and the B videos. That is eq. 2's sum of −s over the positives times
2 (BYOL's normalised squared error, so that V = 2 gives the familiar 2 − 2·cos) plus the constant
2(V−1), which does not change the gradient.

`pairwise`: the mean over ordered pairs (i, j ≠ i) of 2 − 2·s(p_i, z_j) (the V = 2 loss averaged
over pairs: 1/(V−1) of `paper`). `official`: PySlowFast's sequential loop: for query i the mean
over the V−1 keys of −s(p_i, z_j)/T with T = 0.5 (= −2·s), summed over the V queries (one
backward pass per query); its value has no +2 and its gradient is V times `pairwise`'s.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, check_loss_form, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def byol_pair_losses(p: jax.Array, z: jax.Array) -> jax.Array:
    """[B, V, d] predictions and [B, V, d] targets -> [B, V, V] losses 2 − 2·cos(p_i, z_j)."""
    return 2.0 - 2.0 * jnp.einsum("bvd,bwd->bvw", l2_normalize(p), l2_normalize(z))


@dataclasses.dataclass(frozen=True)
class BYOL:
    loss_form: str = "paper"
    uses_target: bool = True

    def __post_init__(self):
        check_loss_form(self.loss_form)

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        return {}

    def __call__(self, online: Outputs, target: Outputs, state: State, info: StepInfo):
        z = jax.lax.stop_gradient(target["embedding"])
        pair = byol_pair_losses(online["prediction"], z)  # [B, V, V]
        v = pair.shape[1]
        mean_pair = off_diagonal_mean(pair).mean()
        if self.loss_form == "paper":  # per query: sum over its V−1 positives
            loss = mean_pair * (v - 1)
        elif self.loss_form == "pairwise":
            loss = mean_pair
        else:  # official: Σ_i mean_{b, j≠i} (−2·s) = V · (mean pair loss − 2)
            loss = v * (mean_pair - 2.0)
        return loss, {}, state
