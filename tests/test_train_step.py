"""The sharded train step: 8 devices equal 1 device, BN groups of one view, SwAV freeze, MoCo warm-up steps."""

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


def _run(method, devices, bn_group_size=None, steps=2, config=None):
    c = config or _config(method)
    mesh = sharding.make_mesh(devices)
    net = build_network(c, bn_group_size)
    objective = build_objective(c)
    lr = optim.make_lr_schedule(0.05, 10, 0)
    tx = optim.make_optimizer(c.optim, lr)
    state = create_train_state(
        net=net,
        objective=objective,
        tx=tx,
        clip_shape=(T, S, S, 3),
        num_views=V,
        global_batch_size=B,
        embed_dim=c.model.embed_dim,
        seed=0,
        mesh=mesh,
    )
    step = make_train_step(
        c,
        net,
        objective,
        tx,
        lr_schedule=lr,
        momentum_schedule=optim.make_momentum_schedule(0.99, 10),
        steps_per_epoch=5,
        mesh=mesh,
    )
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


def test_moco_bn_groups_are_clips_of_one_view():
    """MoCo's BN groups = 2 videos' clips of ONE view (spanning 2 of the 8 devices): stem statistics by hand."""
    c = _config("moco")
    with c.unlocked():
        c.model.bn_group_size = 2
    net = build_network(c)
    clips = np.random.default_rng(1).integers(0, 256, (B, V, T, S, S, 3), dtype=np.uint8)
    x = (clips.reshape(B * V, T, S, S, 3) / 255.0 - 0.45) / 0.225
    mesh = sharding.make_mesh()
    variables = jax.jit(lambda x: net.init(jax.random.PRNGKey(0), x, train=True))(jnp.asarray(x[:2]))
    xs = jax.device_put(jnp.asarray(x, jnp.float32), sharding.batch_sharding(mesh))
    _, state = jax.jit(
        lambda v, x: net.apply(
            v,
            x,
            train=True,
            mutable=["batch_stats", "intermediates"],
            capture_intermediates=lambda m, name: m.name == "stem_conv",
        )
    )(variables, xs)
    stem_out = np.asarray(jax.tree.leaves(state["intermediates"])[0])  # [16, T, 8, 8, C] conv outputs
    ch = stem_out.shape[-1]
    # Hand computation: group (g, w) = clips of videos 2g, 2g+1 in view w; mean and unbiased variance.
    per_video = stem_out.reshape(B, V, -1, ch)
    means, unbiased = [], []
    for g in range(B // 2):
        for w in range(V):
            group = per_video[2 * g : 2 * g + 2, w].reshape(-1, ch)
            means.append(group.mean(0))
            unbiased.append(group.var(0, ddof=1))
    stats = state["batch_stats"]["backbone"]["stem_bn"]
    np.testing.assert_allclose(stats["mean"], 0.1 * np.mean(means, 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * np.mean(unbiased, 0), rtol=1e-4)
    # ... and they differ from groups of 2 consecutive clips (which mix the views of one video).
    mixed_var = stem_out.reshape(B, -1, ch).var(axis=1, ddof=1).mean(0)
    assert not np.allclose(0.9 + 0.1 * mixed_var, stats["var"], rtol=1e-4)


def test_swav_frozen_prototypes_get_no_gradient_and_no_optimizer_state():
    """PySlowFast sets the prototypes' grad to None while frozen: LARS's momentum (and weight decay) never see them."""
    c = _config("swav")
    with c.unlocked():
        c.objective.freeze_prototypes_epochs = 0.2  # 1 of the 5 steps per epoch in `_run`
    state, _, step, batch, init = _run("swav", jax.devices(), steps=1, config=c)
    traces = [
        np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]
        if "prototypes" in jax.tree_util.keystr(path)
    ]
    assert traces and all(np.all(t == 0) for t in traces)
    # Unchanged but for the re-normalisation after every step (float rounding of unit rows).
    np.testing.assert_allclose(state.params["prototypes"]["kernel"], init["prototypes"]["kernel"], rtol=1e-6, atol=1e-7)
    assert not np.allclose(state.params["projector"]["dense_0"]["kernel"], init["projector"]["dense_0"]["kernel"])
    state, _ = step(state, batch)  # step 2: unfrozen
    moved = [
        leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]
        if "prototypes" in jax.tree_util.keystr(path)
    ]
    assert any(np.any(np.asarray(t) != 0) for t in moved)


def test_moco_no_update_steps_fill_the_queue_only():
    c = _config("moco")
    with c.unlocked():
        c.optim.no_update_steps = -1  # PySlowFast: queue_size // batch_size = 64 // 8 = 8 steps
    state, _, _, _, init = _run("moco", jax.devices(), steps=2, config=c)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(init)):
        np.testing.assert_array_equal(a, b)
    assert int(state.method_state["queue_ptr"]) == 2 * B * V % 64  # the queue filled all the same
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(state.opt_state) if np.ndim(x) > 0)


def test_shuffle_videos_permutes_within_each_view():
    from rhovid.steps import shuffle_videos

    gather, inverse = (np.asarray(a) for a in shuffle_videos(jax.random.PRNGKey(3), 6, 3))
    clips = np.arange(18)  # clip index n·3 + w
    shuffled = clips[gather]
    np.testing.assert_array_equal(shuffled % 3, np.tile(np.arange(3), 6))  # views stay in place
    for w in range(3):
        assert sorted(shuffled[w::3] // 3) == list(range(6))  # each view: a permutation of the videos
    assert not np.array_equal(shuffled, clips)
    np.testing.assert_array_equal(shuffled[inverse], clips)
