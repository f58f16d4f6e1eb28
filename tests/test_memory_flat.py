"""Memory-flat ρ (model.views_per_chunk): the chunked, gradient-cached step equals one plain pass.

The reference is the plain one-pass computation: all B·V clips in one forward. BatchNorm groups
hold clips of one view (the default), so encoding whole views in chunks changes no statistic: the
memory-flat train step must give its loss, its gradients (recorded by an optimiser that stores
them) and its running BN statistics.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rhovid import config as config_lib
from rhovid import presets, sharding
from rhovid.data.reading.device_augment import normalize
from rhovid.methods import StepInfo, build_objective
from rhovid.models.network import build_network
from rhovid.state import TrainState
from rhovid.steps import PER_CLIP_KEYS, make_train_step

B, T, S = 8, 2, 16  # videos, frames, crop


def _config(method, rho, views_per_chunk):
    c = presets.apply(config_lib.base_config(method), f"tiny,rho={rho}")
    with c.unlocked():
        c.data.num_frames, c.data.crop_size, c.batch_size = T, S, B
        c.model.views_per_chunk = views_per_chunk
        c.model.matmul_forms = "none"  # (the same maths; quicker to compile)
    return c


def _recording_optimizer() -> optax.GradientTransformation:
    """Keeps the last gradient as its state (so the step hands it back) and applies −gradient."""
    return optax.GradientTransformation(
        init=lambda params: jax.tree.map(jnp.zeros_like, params),
        update=lambda grads, state, params=None: (jax.tree.map(lambda g: -g, grads), grads),
    )


def _random_state(c, mesh):
    """A replicated TrainState with random parameters, drawn on the host (no init program to compile)."""
    net = build_network(c)
    shapes = jax.eval_shape(
        lambda x: net.init(jax.random.PRNGKey(0), x, train=True), jax.ShapeDtypeStruct((2, T, S, S, 3), jnp.float32)
    )
    rng = np.random.default_rng(1)

    def draw(path, leaf):
        name, shape = jax.tree_util.keystr(path), leaf.shape
        if name.endswith("['kernel']"):
            x = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            if "prototypes" in name:
                x /= np.linalg.norm(x, axis=-1, keepdims=True)
        elif name.endswith("['scale']") or name.endswith("['var']"):
            x = 1.0 + 0.1 * np.abs(rng.normal(size=shape))
        else:  # bias, running mean
            x = 0.1 * rng.normal(size=shape)
        return x.astype(np.float32)

    variables = jax.tree_util.tree_map_with_path(draw, shapes)
    params, batch_stats = variables["params"], variables["batch_stats"]
    state = TrainState(
        step=np.zeros((), np.int32),
        params=params,
        batch_stats=batch_stats,
        target_params={},
        target_batch_stats={},
        opt_state=jax.tree.map(np.zeros_like, params),
        method_state={},
        rng=np.asarray(jax.random.PRNGKey(0)),
    )
    return jax.device_put(state, sharding.replicated(mesh))


def _memory_flat_step(c, mesh, clips):
    """One memory-flat train step: (loss, gradients, new BN statistics, initial state)."""
    net, objective, tx = build_network(c), build_objective(c), _recording_optimizer()
    state = _random_state(c, mesh)
    init = jax.device_get((state.params, state.batch_stats, state.method_state))
    step = make_train_step(
        c,
        net,
        objective,
        tx,
        lr_schedule=optax.constant_schedule(1.0),
        momentum_schedule=None,
        steps_per_epoch=5,
        mesh=mesh,
    )
    new_state, metrics = step(state, sharding.to_global({"clips": clips}, mesh))
    return float(metrics["loss"]), jax.device_get(new_state.opt_state), jax.device_get(new_state.batch_stats), init


def _reference(c, mesh, clips, params, batch_stats, method_state):
    """The plain one-pass loss, gradients and BN statistics: all B·V clips in one forward.

    BN groups hold clips of one view (the default), so chunks of whole views change nothing.
    """
    v = clips.shape[1]
    plain = c.copy_and_resolve_references()
    with plain.unlocked():
        plain.model.views_per_chunk = 0
    net = build_network(plain)
    objective = build_objective(c)
    info = StepInfo(step=jnp.zeros((), jnp.int32), steps_per_epoch=5)

    def value_and_grad(params, batch_stats, clips):
        x = normalize(clips.reshape((B * v,) + clips.shape[2:]), c.data)  # video-major

        def loss_fn(p):
            out, new_vars = net.apply({"params": p, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"])
            views = {key: (o.reshape((B, v) + o.shape[1:]) if key in PER_CLIP_KEYS else o) for key, o in out.items()}
            loss, _, _ = objective(views, None, method_state, info)
            return loss, new_vars["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return loss, grads, stats

    rep = sharding.replicated(mesh)
    clips = sharding.to_global({"clips": clips}, mesh)["clips"]
    loss, grads, stats = jax.jit(value_and_grad, out_shardings=rep)(params, batch_stats, clips)
    return float(loss), jax.device_get(grads), jax.device_get(stats)


def _assert_trees_close(actual, expected, what, rtol=1e-4):
    """Leaf by leaf: |a − e| ≤ rtol·|e| + rtol·max|e| (float32 sums in another order)."""
    flat_a = jax.tree_util.tree_flatten_with_path(actual)[0]
    flat_e = jax.tree.leaves(expected)
    assert len(flat_a) == len(flat_e)
    for (path, a), e in zip(flat_a, flat_e):
        e = np.asarray(e)
        np.testing.assert_allclose(
            a, e, rtol=rtol, atol=rtol * float(np.abs(e).max()) + 1e-12, err_msg=f"{what} {jax.tree_util.keystr(path)}"
        )


@pytest.mark.parametrize(
    "method, rho, views_per_chunk",
    [
        ("simclr", 2, 1),  # one view at a time
        ("swav", 4, 2),  # two views at a time: BN over a chunk of 2 views; prototypes' gradient too
    ],
)
def test_memory_flat_equals_one_pass(method, rho, views_per_chunk):
    c = _config(method, rho, views_per_chunk)
    mesh = sharding.make_mesh()
    clips = np.random.default_rng(0).integers(0, 256, (B, rho, T, S, S, 3), dtype=np.uint8)
    loss, grads, stats, (params, batch_stats, method_state) = _memory_flat_step(c, mesh, clips)
    ref_loss, ref_grads, ref_stats = _reference(c, mesh, clips, params, batch_stats, method_state)

    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    _assert_trees_close(grads, ref_grads, "gradient")
    _assert_trees_close(stats, ref_stats, "BN statistics")
    assert float(optax.tree.norm(ref_grads)) > 0


@pytest.mark.parametrize(
    "method, rho, views_per_chunk, bn_group_size, message",
    [
        ("simclr", 3, 2, 0, "use one of [1, 3]"),
        ("byol", 2, 1, 0, "is for simclr and swav"),
        ("swav", 2, 1, -1, "BN runs per chunk of 8 clips"),
        ("simclr", 4, 2, 32, "a divisor of 16"),
    ],
)
def test_validate_names_the_bad_chunking(method, rho, views_per_chunk, bn_group_size, message):
    c = _config(method, rho, views_per_chunk)
    with c.unlocked():
        c.model.bn_group_size = bn_group_size
        c.model.bn_mix_views = True  # groups that mix views must fit inside a chunk
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_lib.validate(c, num_devices=8)
