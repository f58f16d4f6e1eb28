"""The sharded train step: 8 devices equal 1 device, per-device BN, no recompilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid import config as config_lib
from rhovid import optim, presets, sharding
from rhovid.methods import build_objective
from rhovid.models.network import build_network
from rhovid.state import create_train_state
from rhovid.steps import make_train_step

B, V, T, S = 8, 2, 2, 16  # videos, views, frames, crop


def _config(method):
    c = presets.apply(config_lib.base_config(method), "tiny")
    with c.unlocked():
        c.data.num_frames, c.data.crop_size, c.batch_size = T, S, B
        c.objective.queue_size = 64
    return c


def _run(method, devices, bn_group_size=None, steps=2):
    c = _config(method)
    mesh = sharding.make_mesh(devices)
    net = build_network(c, bn_group_size)
    objective = build_objective(c)
    lr = optim.make_lr_schedule(0.05, 10, 0)
    tx = optim.make_optimizer(c.optim, lr)
    state = create_train_state(net=net, objective=objective, tx=tx, clip_shape=(T, S, S, 3), num_views=V,
                               global_batch_size=B, embed_dim=c.model.embed_dim, seed=0, mesh=mesh)
    step = make_train_step(c, net, objective, tx, lr_schedule=lr,
                           momentum_schedule=optim.make_momentum_schedule(0.99, 10), steps_per_epoch=5, mesh=mesh)
    clips = np.random.default_rng(0).integers(0, 256, (B, V, T, S, S, 3), dtype=np.uint8)
    batch = sharding.to_global({"clips": clips}, mesh)
    init_params = jax.device_get(state.params)  # before the step donates the buffers
    losses = []
    for _ in range(steps):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    return state, losses, step, batch, init_params


def _assert_same_updates(after_a, after_b, before):
    """Parameter updates agree to 1 % of their size (float reduction order differs across devices)."""
    for a, b, p in zip(jax.tree.leaves(after_a), jax.tree.leaves(after_b), jax.tree.leaves(before)):
        da, db = np.asarray(a) - p, np.asarray(b) - p
        assert np.linalg.norm(da - db) <= 1e-2 * np.linalg.norm(db) + 1e-7


@pytest.mark.parametrize("method", ["byol", "simclr"])
def test_eight_devices_equal_one_device(method):
    s8, losses8, _, batch, _ = _run(method, jax.devices())
    assert len(batch["clips"].sharding.device_set) == 8
    s1, losses1, _, _, init = _run(method, jax.devices()[:1])
    np.testing.assert_allclose(losses8, losses1, rtol=1e-4)
    _assert_same_updates(s8.params, s1.params, init)
    if method == "byol":
        init_target = {k: init[k] for k in ("backbone", "projector")}
        _assert_same_updates(s8.target_params, s1.target_params, init_target)


def test_no_recompilation_on_later_steps():
    state, _, step, batch, _ = _run("simclr", jax.devices(), steps=1)
    compiled_before = step._cache_size()
    for _ in range(2):
        state, _ = step(state, batch)
    assert step._cache_size() == compiled_before == 1


def test_moco_per_device_bn_uses_each_devices_clips():
    """MoCo's BN groups = the 2 clips of each of 8 devices: stem statistics match a hand computation."""
    c = _config("moco")
    group = B * V // 8
    net = build_network(c, group)
    clips = np.random.default_rng(1).integers(0, 256, (B, V, T, S, S, 3), dtype=np.uint8)
    x = (clips.reshape(B * V, T, S, S, 3) / 255.0 - 0.45) / 0.225
    mesh = sharding.make_mesh()
    variables = jax.jit(lambda x: net.init(jax.random.PRNGKey(0), x, train=True))(jnp.asarray(x[:2]))
    xs = jax.device_put(jnp.asarray(x, jnp.float32), sharding.batch_sharding(mesh))
    _, state = jax.jit(lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats", "intermediates"],
                                              capture_intermediates=lambda m, name: m.name == "stem_conv"))(
        variables, xs)
    stem_out = np.asarray(jax.tree.leaves(state["intermediates"])[0])  # [16, T, 8, 8, C] conv outputs
    # Hand computation: per group of 2 clips, mean and unbiased variance; running stats average groups.
    groups = stem_out.reshape(8, group, -1, stem_out.shape[-1])
    means = groups.mean(axis=(1, 2))
    unbiased = groups.reshape(8, -1, stem_out.shape[-1]).var(axis=1, ddof=1)
    stats = state["batch_stats"]["backbone"]["stem_bn"]
    np.testing.assert_allclose(stats["mean"], 0.1 * means.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * unbiased.mean(0), rtol=1e-4)
    # ... and they differ from global-batch statistics (the groups really are separate).
    global_var = stem_out.reshape(-1, stem_out.shape[-1]).var(axis=0, ddof=1)
    assert not np.allclose(0.9 + 0.1 * global_var, stats["var"], rtol=1e-4)
