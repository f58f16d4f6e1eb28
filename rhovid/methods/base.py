"""The interface every ρ objective implements, and how ρ views become sub-losses.

An objective sees the outputs of the online network (and of the momentum network, if it uses one)
for a batch of B videos with V views each (V = ρ, or 2 views of one clip when ρ = 1), and returns
its loss, its metrics and its updated state (MoCo's queue, SwAV's queue).

ρ > 2 follows the paper (§3.2): each view is the query once, the other V−1 views of the same video
are its positives, and the loss is the mean of the V sub-losses. `off_diagonal_mean` is that mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp

Outputs = dict[str, jax.Array]  # per-view network outputs, each [B, V, ...]
State = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """Where training is, for objectives whose behaviour changes over time."""

    step: jax.Array  # int32 scalar
    steps_per_epoch: int


class Objective(Protocol):
    """A self-supervised objective over V views per video."""

    uses_target: bool  # needs the momentum network's outputs

    def init_state(self, rng: jax.Array, embed_dim: int, num_views: int, batch_size: int) -> State:
        """State carried across steps (empty dict if none)."""

    def __call__(
        self, online: Outputs, target: Outputs | None, state: State, info: StepInfo
    ) -> tuple[jax.Array, dict[str, jax.Array], State]:
        """Returns (scalar loss, metrics, new state)."""


def off_diagonal_mean(pair_losses: jax.Array) -> jax.Array:
    """Mean over ordered view pairs (i, j), i ≠ j, of `pair_losses` [..., V, V] -> [...]."""
    v = pair_losses.shape[-1]
    mask = 1.0 - jnp.eye(v, dtype=pair_losses.dtype)
    return (pair_losses * mask).sum(axis=(-1, -2)) / (v * (v - 1))
