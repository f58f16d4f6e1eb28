"""The jit-compiled pretraining step: one program over all devices, state donated.

    batch['clips']  uint8 [B, V, T, H, W, 3], sharded on B       (V = ρ, or 2 when ρ = 1)
      (with data.crop_on_device, canvases [B, V, T, Hc, Wc, 3] and batch['crop'] [B, V, 3]:
       cropped, resized and flipped on device first)
      -> float, colour-augmented on device if configured, normalised (mean 0.45, std 0.225)
      -> online network on the B·V clips (B-major, so each device's clips stay contiguous),
         or, with model.views_per_chunk = k > 0, on chunks of k views at a time with gradient
         caching (rhovid.grad_cache: memory flat in ρ, BN statistics per chunk)
      -> momentum network on the same clips (MoCo, BYOL); MoCo shuffles each view's videos (shuffle-BN)
      -> objective -> gradients w.r.t. online params only (never w.r.t. the video)
      -> optimiser (MoCo: no update in the first `optim.no_update_steps`); SwAV prototypes frozen
         (no gradient, optimiser state untouched) / re-normalised; EMA of the momentum network
Metrics are replicated scalars: loss, lr, momentum, grad_norm and the objective's extras.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rhovid import grad_cache, optim, sharding
from rhovid.data.reading.device_augment import preprocess
from rhovid.methods.base import Objective, StepInfo
from rhovid.models.heads import l2_normalize
from rhovid.state import TrainState, target_subset

PER_CLIP_KEYS = ("features", "embedding", "prediction", "scores")


def _views(out: dict, b: int, v: int) -> dict:
    """Per-clip outputs [B·V, ...] -> [B, V, ...]; other entries pass through."""
    return {k: (x.reshape((b, v) + x.shape[1:]) if k in PER_CLIP_KEYS else x) for k, x in out.items()}


def shuffle_videos(rng: jax.Array, b: int, v: int) -> tuple[jax.Array, jax.Array]:
    """Shuffle-BN indices for a video-major [B·V] batch: each view's clips in a random video order.

    Clip (video n, view w) moves to (perm_w[n], w) with an independent permutation per view, so a
    BN group of the key encoder (clips of one view) holds a random set of videos, as PySlowFast's
    `_batch_shuffle` of one view's keys. Returns (gather indices, their inverse), both [B·V].
    """
    perms = jax.vmap(lambda k: jax.random.permutation(k, b))(jax.random.split(rng, v))  # [V, B]
    gather = (perms.T * v + jnp.arange(v)).reshape(-1)  # position (n, w) reads clip (perms[w, n], w)
    return gather, jnp.argsort(gather)


def keep_subtree(new_state, old_state, key: str, keep: jax.Array):
    """`new_state` with every leaf under a dict key `key` taken from `old_state` where `keep`."""

    def pick(path, new, old):
        under = any(isinstance(p, jax.tree_util.DictKey) and p.key == key for p in path)
        return jnp.where(keep, old, new) if under else new

    return jax.tree_util.tree_map_with_path(pick, new_state, old_state)


def make_train_step(
    config: ml_collections.ConfigDict,
    net,
    objective: Objective,
    tx: optax.GradientTransformation,
    *,
    lr_schedule: optax.Schedule,
    momentum_schedule: optax.Schedule | None,
    steps_per_epoch: int,
    mesh: Mesh,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Builds `train_step(state, batch) -> (state, metrics)`, jitted with explicit shardings."""
    freeze_steps = int(config.objective.freeze_prototypes_epochs * steps_per_epoch)
    no_update_steps = config.optim.get("no_update_steps", 0)
    if no_update_steps < 0:  # PySlowFast: QUEUE_LEN / (BATCH_SIZE · NUM_SHARDS) iterations fill MoCo's queue
        no_update_steps = config.objective.queue_size // config.batch_size if config.method == "moco" else 0
    shuffle_bn = config.method == "moco" and config.objective.shuffle_bn
    views_per_chunk = config.model.get("views_per_chunk", 0)  # 0 = all B·V clips in one pass
    if views_per_chunk and objective.uses_target:
        raise ValueError(
            f"model.views_per_chunk={views_per_chunk} is for objectives without a momentum network "
            "(simclr, swav); MoCo and BYOL can encode clips sequentially as they are. Set it to 0."
        )
    chunk_sharding = NamedSharding(mesh, P(None, sharding.DATA_AXIS))  # [C, B·k, ...] on videos

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng, aug_rng, shuffle_rng = jax.random.split(state.rng, 3)
        clips = batch["clips"]  # [B, V, T, H, W, 3]
        b, v = clips.shape[:2]
        crop = batch.get("crop")  # [B, V, 3] with data.crop_on_device: clips are canvases to crop
        crop = None if crop is None else crop.reshape((b * v, 3))
        x = preprocess(clips.reshape((b * v,) + clips.shape[2:]), aug_rng, config.data, crop)
        info = StepInfo(step=state.step, steps_per_epoch=steps_per_epoch)

        target_out, target_batch_stats = None, state.target_batch_stats
        if objective.uses_target:
            xt, unshuffle = x, None
            if shuffle_bn:  # shuffle-BN: each view's keys are encoded in a random order of the videos
                perm, unshuffle = shuffle_videos(shuffle_rng, b, v)
                xt = x[perm]
            tvars = {"params": state.target_params, "batch_stats": state.target_batch_stats}
            tout, tnew = net.apply(tvars, xt, train=True, online=False, mutable=["batch_stats"])
            if unshuffle is not None:
                tout = {k: o[unshuffle] for k, o in tout.items()}
            target_out = jax.lax.stop_gradient(_views(tout, b, v))
            target_batch_stats = tnew["batch_stats"]

        def loss_fn(params):
            variables = {"params": params, "batch_stats": state.batch_stats}
            out, new_vars = net.apply(variables, x, train=True, mutable=["batch_stats"])
            loss, metrics, method_state = objective(_views(out, b, v), target_out, state.method_state, info)
            return loss, (new_vars["batch_stats"], metrics, method_state)

        def memory_flat_value_and_grad(params):  # the same loss, one chunk of k views at a time
            def forward(p, xc):  # [B·k, ...] -> per-clip outputs [B·k, ...], BN statistics of the chunk
                out, new_vars = net.apply(
                    {"params": p, "batch_stats": state.batch_stats}, xc, train=True, mutable=["batch_stats"]
                )
                return out, new_vars["batch_stats"]

            def objective_fn(outs):
                views = grad_cache.from_chunks(outs, b, views_per_chunk, PER_CLIP_KEYS)
                loss, metrics, method_state = objective(views, target_out, state.method_state, info)
                return loss, (metrics, method_state)

            chunks = jax.lax.with_sharding_constraint(grad_cache.to_chunks(x, b, v, views_per_chunk), chunk_sharding)
            (loss, (metrics, method_state), stats), grads = grad_cache.value_and_grad(
                forward, objective_fn, params, chunks
            )
            batch_stats = jax.tree.map(lambda s: s.mean(0), stats)  # = BN's update with a group per chunk
            return (loss, (batch_stats, metrics, method_state)), grads

        if views_per_chunk:
            (loss, (batch_stats, metrics, method_state)), grads = memory_flat_value_and_grad(state.params)
        else:
            (loss, (batch_stats, metrics, method_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                state.params
            )
        frozen = state.step < freeze_steps
        if "prototypes" in grads:  # SwAV: frozen for the first epoch(s), as PySlowFast's `p.grad = None`:
            # no gradient, no weight decay, no momentum: their optimiser state stays as it was (zero).
            grads = dict(grads, prototypes=jax.tree.map(lambda g: jnp.where(frozen, 0.0, g), grads["prototypes"]))
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        if "prototypes" in updates:
            updates = dict(updates, prototypes=jax.tree.map(lambda u: jnp.where(frozen, 0.0, u), updates["prototypes"]))
            opt_state = keep_subtree(opt_state, state.opt_state, "prototypes", frozen)
        if no_update_steps:  # MoCo (PySlowFast): the first steps only fill the queue
            skip = state.step < no_update_steps
            updates = jax.tree.map(lambda u: jnp.where(skip, 0.0, u), updates)
            opt_state = jax.tree.map(lambda new, old: jnp.where(skip, old, new), opt_state, state.opt_state)
        params = optax.apply_updates(state.params, updates)
        if "prototypes" in params:  # SwAV: unit-norm prototypes after every update
            params["prototypes"] = {"kernel": l2_normalize(params["prototypes"]["kernel"])}

        target_params = state.target_params
        metrics = dict(metrics, loss=loss, lr=lr_schedule(state.step), grad_norm=optax.tree.norm(grads))
        if objective.uses_target:
            m = momentum_schedule(state.step)
            target_params = optim.ema_update(state.target_params, target_subset(params), m)
            metrics["momentum"] = m
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            batch_stats=batch_stats,
            target_params=target_params,
            target_batch_stats=target_batch_stats,
            opt_state=opt_state,
            method_state=method_state,
            rng=rng,
        )
        return new_state, metrics

    rep, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
    return jax.jit(train_step, in_shardings=(rep, data), out_shardings=(rep, rep), donate_argnums=(0,))
