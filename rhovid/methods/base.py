"""The interface every ρ objective implements, and how ρ views become sub-losses.

An objective sees the outputs of the online network (and of the momentum network, if it uses one)
for a batch of B videos with V views each (V = ρ, or 2 views of one clip when ρ = 1), and returns
its loss, its metrics and its updated state (MoCo's queue, SwAV's queue).

How the V views of a video are combined is `objective.loss_form`:

  paper     the paper's §3.2 and eq. 1/2 (the default): each view is the query once, all V−1
            other views of its video are its positives at once (summed inside one log for the
            contrastive losses, summed over positives for BYOL), and the loss is the mean of the
            V per-query losses. At V = 2 it is the usual two-view loss.
  pairwise  the mean over ordered view pairs (i, j), i ≠ j, of a two-view loss with one positive;
            equal to `paper` at V = 2, 20–35 % different at V = 3–4.
  official  what PySlowFast's code computes (`slowfast/models/contrastive.py`): per-query losses
            are summed, not averaged, over the queries it backpropagates one after another
            (MoCo, BYOL); SimCLR uses the V−1 consecutive pairs only; SwAV takes codes from
            views 0 and 1 only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp

Outputs = dict[str, jax.Array]  # per-view network outputs, each [B, V, ...]
State = dict[str, Any]
LOSS_FORMS = ("paper", "pairwise", "official")


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


def check_loss_form(loss_form: str) -> None:
    if loss_form not in LOSS_FORMS:
        from rhovid.errors import UserError

        raise UserError(f"objective.loss_form={loss_form!r} is not one of {LOSS_FORMS}; the default is 'paper'.")


def off_diagonal_mean(pair_losses: jax.Array) -> jax.Array:
    """Mean over ordered view pairs (i, j), i ≠ j, of `pair_losses` [..., V, V] -> [...]."""
    v = pair_losses.shape[-1]
    mask = 1.0 - jnp.eye(v, dtype=pair_losses.dtype)
    return (pair_losses * mask).sum(axis=(-1, -2)) / (v * (v - 1))


def multi_positive_nce(pos: jax.Array, pos_mask: jax.Array, neg_lse: jax.Array) -> jax.Array:
    """Eq. 1 with several positives: −log(Σ_pos e^pos / (Σ_pos e^pos + e^neg_lse)).

    Args:
      pos: [..., P] positive logits (already divided by the temperature).
      pos_mask: [..., P] bool, which entries of `pos` are positives.
      neg_lse: [...] log Σ exp of the negative logits.
    """
    lse_pos = jax.nn.logsumexp(jnp.where(pos_mask, pos, -jnp.inf), axis=-1)
    return jnp.logaddexp(lse_pos, neg_lse) - lse_pos
