"""Learning-rate and momentum-encoder schedules, and the SGD / LARS optimisers (docs/recipe.md).

lr(n)      the paper's half-period cosine over the whole run, η·½(1 + cos(π·n/n_max)), after a
           linear warmup from `warmup_init_lr` that ends ON that curve (at n = warmup it
           reaches η·½(1 + cos(π·warmup/n_max)); the cosine is not restarted after warmup).
           PySlowFast's `get_lr_at_epoch` computes the same curve (COSINE_AFTER_WARMUP off).
η          base_lr · global_batch / base_batch_size (the paper's LRs are totals at batch 512);
           `warmup_init_lr` is scaled the same way
m(step)    1 − (1 − m_base)·(cos(π·step/total) + 1)/2: m_base at the start, 1 at the end
LARS       trust ratio 0.001·‖w‖/‖g + wd·w‖; biases and BN parameters (every 1-D parameter)
           get neither weight decay nor the trust ratio (PySlowFast's `ignore_1d_param`)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax


def peak_learning_rate(optim_cfg: ml_collections.ConfigDict, global_batch_size: int) -> float:
    """Linear scaling from `base_batch_size` videos (PySlowFast scales BASE_LR with the machine count)."""
    return optim_cfg.base_lr * global_batch_size / optim_cfg.base_batch_size


def make_lr_schedule(
    peak_lr: float, total_steps: int, warmup_steps: int, warmup_init_lr: float = 0.0
) -> optax.Schedule:
    """η·½(1 + cos(π·n/total)) for n ≥ warmup; before, the line from `warmup_init_lr` to that curve."""
    warmup_steps = min(warmup_steps, total_steps)

    def cosine(step):
        progress = jnp.clip(step / max(total_steps, 1), 0.0, 1.0)
        return 0.5 * peak_lr * (1.0 + jnp.cos(jnp.pi * progress))

    warm_end = 0.5 * peak_lr * (1.0 + math.cos(math.pi * warmup_steps / max(total_steps, 1)))

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        warm = warmup_init_lr + (warm_end - warmup_init_lr) * step / max(warmup_steps, 1)
        return jnp.where(step < warmup_steps, warm, cosine(step))

    return schedule


def lr_schedule_for(config: ml_collections.ConfigDict, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
    """The run's lr schedule: η and `warmup_init_lr` both scaled linearly from `base_batch_size`."""
    o = config.optim
    scale = config.batch_size / o.base_batch_size
    return make_lr_schedule(
        o.base_lr * scale, total_steps, int(round(o.warmup_epochs * steps_per_epoch)), o.warmup_init_lr * scale
    )


def make_momentum_schedule(momentum_base: float, total_steps: int, anneal: bool = True) -> optax.Schedule:
    """EMA coefficient of the momentum encoder, cosine-annealed from `momentum_base` to 1
    (`anneal`, config.objective.momentum_anneal) or constant at `momentum_base`."""

    def schedule(step):
        if not anneal:
            return jnp.full((), momentum_base, jnp.float32)
        progress = jnp.clip(jnp.asarray(step, jnp.float32) / max(total_steps, 1), 0.0, 1.0)
        return 1.0 - (1.0 - momentum_base) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0

    return schedule


def decay_mask(params: Any) -> Any:
    """True for parameters that get weight decay and LARS: every parameter with ndim > 1."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(optim_cfg: ml_collections.ConfigDict, lr_schedule: optax.Schedule) -> optax.GradientTransformation:
    """SGD with momentum (optionally Nesterov) or LARS, with masked weight decay and clipping."""
    o = optim_cfg
    if o.optimizer == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(o.weight_decay, mask=decay_mask),
            optax.sgd(lr_schedule, momentum=o.momentum, nesterov=o.nesterov),
        )
    elif o.optimizer == "lars":
        tx = optax.lars(
            lr_schedule,
            weight_decay=o.weight_decay,
            weight_decay_mask=decay_mask,
            trust_coefficient=o.trust_coefficient,
            trust_ratio_mask=decay_mask,
            momentum=o.momentum,
            nesterov=o.nesterov,
        )
    else:
        raise ValueError(f"optim.optimizer={o.optimizer!r}; use 'sgd' or 'lars'.")
    if o.grad_clip_norm > 0:
        tx = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), tx)
    return tx


def ema_update(target: Any, online: Any, momentum: jax.Array) -> Any:
    """target ← m·target + (1 − m)·online, leaf by leaf (trees of the same structure)."""
    return jax.tree.map(lambda t, o: momentum * t + (1.0 - momentum) * o, target, online)
