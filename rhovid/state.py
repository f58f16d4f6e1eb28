"""The training state: one pytree holding everything needed to continue a run exactly.

step                int32 scalar, optimiser steps taken
params              online network {'backbone', 'projector'[, 'predictor'][, 'prototypes']}
batch_stats         online BN running statistics
target_params       momentum network {'backbone', 'projector'} ({} without a target)
target_batch_stats  the momentum network's own BN statistics
opt_state           optax state
method_state        the objective's state (MoCo queue and pointer, SwAV queue)
rng                 raw uint32[2] PRNG key, split every step
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from rhovid import sharding
from rhovid.methods.base import Objective

TARGET_KEYS = ("backbone", "projector")


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    target_params: Any
    target_batch_stats: Any
    opt_state: Any
    method_state: Any
    rng: jax.Array


def target_subset(tree: dict) -> dict:
    """The part of the online network that the momentum network mirrors."""
    return {k: tree[k] for k in TARGET_KEYS if k in tree}


def create_train_state(
    *,
    net: nn.Module,
    objective: Objective,
    tx: optax.GradientTransformation,
    clip_shape: tuple[int, ...],
    num_views: int,
    global_batch_size: int,
    embed_dim: int,
    seed: int,
    mesh: Mesh,
) -> TrainState:
    """Initialises the state directly as replicated global arrays on `mesh`.

    Args:
      clip_shape: (T, H, W, 3) of one clip.
    """

    def init() -> TrainState:
        rng, init_rng, state_rng = _split_seed(seed)
        variables = net.init(init_rng, jnp.zeros((2,) + tuple(clip_shape), jnp.float32), train=True)
        params, batch_stats = variables["params"], variables.get("batch_stats", {})
        uses_target = objective.uses_target
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=batch_stats,
            target_params=target_subset(params) if uses_target else {},
            target_batch_stats=target_subset(batch_stats) if uses_target else {},
            opt_state=tx.init(params),
            method_state=objective.init_state(state_rng, embed_dim, num_views, global_batch_size),
            rng=rng,
        )

    return jax.jit(init, out_shardings=sharding.replicated(mesh))()


def _split_seed(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(state rng, network init rng, objective-state rng) of a run's seed."""
    return tuple(jax.random.split(jax.random.PRNGKey(seed), 3))


def init_variables(config, clip_shape: tuple[int, ...]) -> dict:
    """The online network's variables at step 0 of a run of `config` (its random initialisation)."""
    from rhovid.models.network import build_network

    net = build_network(config, bn_group_size=0)  # the grouping of BN does not change variables
    _, init_rng, _ = _split_seed(config.seed)
    dummy = jnp.zeros((2,) + tuple(clip_shape), jnp.float32)
    return jax.jit(lambda x: net.init(init_rng, x, train=True))(dummy)
