"""model.dtype=bfloat16: the same losses and gradient directions as float32, for every method.

With bfloat16 the backbone's convolutions, BN outputs, ReLUs and residual sums run in bfloat16;
parameters, BN statistics, the pooled features, the heads, the losses, SwAV's Sinkhorn and the
MoCo queue stay float32 (rhovid/models/resnet3d.py). The test runs the online network and the
objective (with the momentum network's outputs, from the same parameters, in the same dtype) on
the same tiny network, parameters and clips in both dtypes, and compares the loss and the
gradient of every parameter.

Tolerances. bfloat16 keeps 8 significant bits: each rounding is off by up to 2^-9 ≈ 0.2 %. How
much that moves a loss and its gradient depends on how well conditioned the loss is, and a tiny
untrained network on 8 similar clips is badly conditioned (SimCLR at τ = 0.1 after BN over 8
clips: rounding only the *input* to bf16 precision, all else float32, already turns the gradient
by 1 − cos ≈ 0.12). So the reference is that float32 run on an input perturbed by one bf16
rounding (relative noise 2^-9, fixed seed). bf16 end to end rounds ~15 times on the way (every
conv, BN output and residual sum), not once: if each rounding moved the result as much as the
input's and they added up independently, that is √15 ≈ 4× the input rounding's effect. Asserted:
bf16 moves the loss, and the gradient direction (1 − cosine), by at most 6× what the single
input rounding does (+ 0.1 % of the loss, + 0.01 of direction, for runs where it does nothing).
Absolute bounds besides: the pooled features of every clip within cosine 0.995 of float32's,
the loss within 5 % (+ 0.01), the gradient cosine ≥ 0.5 (a wrong or dropped gradient would be
~0). Measured on the tiny net (matmul_forms="auto" on the CPU): features cos 0.9985 for every
method; loss change at most 3.2× and direction change 1.7–3.7× the input rounding's (SimCLR: loss
2.81 ± 0.053 vs ± 0.017, 1 − cos 0.197 vs 0.117; ρBYOL 0.087 vs 0.031; ρSwAV 0.111 vs 0.030).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid import presets
from rhovid.data.reading.device_augment import normalize
from rhovid.methods import StepInfo, build_objective
from rhovid.models.network import build_network
from rhovid.state import target_subset
from rhovid.steps import PER_CLIP_KEYS

B, V, T, S = 4, 2, 2, 16  # videos, views, frames, crop
INPUT_ROUNDING = 2.0**-9  # relative error of one bfloat16 rounding (8 significant bits)
LOSS_FACTOR = DIRECTION_FACTOR = 6.0  # see the module docstring


def _config(method: str):
    c = presets.build_config(method, "tiny")
    with c.unlocked():
        c.data.num_frames, c.data.crop_size, c.batch_size = T, S, B
        c.objective.queue_size = 64
        # BN over all 8 clips (views mixed), the conditioning the tolerances below were measured in:
        # with the default one-view groups BN normalises over 4 clips of a 16² tiny net, and the
        # loss becomes so ill-conditioned that no rounding-based bound is informative.
        c.model.bn_mix_views = True
    return c


def _clips() -> np.ndarray:
    """Smooth random clips (a blurred noise texture shifting over time), normalised, [B·V, T, S, S, 3]."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (B * V, S + 8, S + 8 + T, 3))
    k = np.ones(5) / 5
    for axis in (1, 2):
        base = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), axis, base)
    frames = np.stack([base[:, 4 : 4 + S, t : t + S] for t in range(T)], axis=1)
    return frames.astype(np.uint8)


def _loss_grads_features(method: str, dtype: str, noise: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, flattened gradient and pooled features [B·V, D] of `method` at init in `dtype`.

    `noise` multiplies the normalised input by 1 + noise·N(0, 1) (fixed seed) first.
    """
    c = _config(method)
    with c.unlocked():
        c.model.dtype = dtype
    net = build_network(c, bn_group_size=0)
    objective = build_objective(c)
    x = normalize(jnp.asarray(_clips()), c.data)  # float32 [B·V, T, S, S, 3]
    x = x * (1 + noise * jax.random.normal(jax.random.PRNGKey(5), x.shape))
    variables = jax.jit(lambda x: net.init(jax.random.PRNGKey(0), x, train=True))(x[:2])
    params, stats = variables["params"], variables["batch_stats"]
    method_state = objective.init_state(jax.random.PRNGKey(1), c.model.embed_dim, V, B)
    info = StepInfo(step=jnp.zeros((), jnp.int32), steps_per_epoch=100)

    def views(out):
        return {k: (o.reshape((B, V) + o.shape[1:]) if k in PER_CLIP_KEYS else o) for k, o in out.items()}

    def loss_fn(p, x):
        out, _ = net.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
        target = None
        if objective.uses_target:  # the momentum network at init: the same parameters
            tvars = {"params": target_subset(p), "batch_stats": target_subset(stats)}
            tout, _ = net.apply(tvars, x, train=True, online=False, mutable=["batch_stats"])
            target = jax.lax.stop_gradient(views(tout))
        return objective(views(out), target, method_state, info)[0], out["features"]

    (loss, features), grads = _compiled(method, dtype, loss_fn)(params, x)
    leaves = jax.tree.leaves(jax.device_get(grads))
    assert all(g.dtype == np.float32 for g in leaves)  # parameters, hence their gradients, stay float32
    return float(loss), np.concatenate([np.ravel(g) for g in leaves]), np.asarray(features)


_COMPILED: dict = {}


def _compiled(method, dtype, loss_fn):
    """One jitted value-and-grad per (method, dtype): the perturbed float32 run reuses it."""
    if (method, dtype) not in _COMPILED:
        _COMPILED[method, dtype] = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    return _COMPILED[method, dtype]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


@pytest.mark.parametrize("method", ["simclr", "moco", "byol", "swav"])
def test_bfloat16_matches_float32(method):
    loss32, g32, f32 = _loss_grads_features(method, "float32")
    loss_in, g_in, _ = _loss_grads_features(method, "float32", noise=INPUT_ROUNDING)
    loss16, g16, f16 = _loss_grads_features(method, "bfloat16")
    assert np.isfinite(loss16) and np.all(np.isfinite(g16))
    feature_cos = min(_cos(a, b) for a, b in zip(f16, f32))
    d_loss, d_loss_in = abs(loss16 - loss32), abs(loss_in - loss32)
    d_dir, d_dir_in = 1 - _cos(g16, g32), 1 - _cos(g_in, g32)
    print(
        f"{method}: features cos {feature_cos:.5f}; |Δloss| bf16 {d_loss:.4f} vs input rounding {d_loss_in:.4f} "
        f"(loss {loss32:.4f}); 1 − cos(grad) bf16 {d_dir:.4f} vs input rounding {d_dir_in:.4f}"
    )
    assert feature_cos >= 0.995
    assert d_loss <= 0.05 * abs(loss32) + 0.01
    assert d_loss <= LOSS_FACTOR * d_loss_in + 1e-3 * abs(loss32)
    assert d_dir <= DIRECTION_FACTOR * d_dir_in + 0.01
    assert _cos(g16, g32) >= 0.5  # and in any case the same direction, not a different gradient


def test_bfloat16_computes_in_bfloat16_and_hands_float32_features():
    """The backbone's convolutions run in bfloat16; the features it returns, and the heads, are float32."""
    c = _config("byol")
    with c.unlocked():
        c.model.dtype = "bfloat16"
    net = build_network(c, bn_group_size=0)
    x = jnp.zeros((2, T, S, S, 3), jnp.float32)
    variables = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), x, train=True))
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(variables))
    jaxpr = jax.make_jaxpr(lambda v: net.apply(v, x, train=False))(variables)
    convs = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
    convs += [e for eqn in jaxpr.jaxpr.eqns for e in _sub_eqns(eqn) if e.primitive.name == "conv_general_dilated"]
    assert convs and all(e.outvars[0].aval.dtype == jnp.bfloat16 for e in convs)
    out = jax.eval_shape(lambda v: net.apply(v, x, train=False), variables)
    assert {k: o.dtype for k, o in out.items()} == {k: jnp.float32 for k in out}


def _sub_eqns(eqn):
    """Equations nested in an equation's sub-jaxprs (pjit, custom_vjp, remat)."""
    for p in eqn.params.values():
        for j in p if isinstance(p, (list, tuple)) else [p]:
            inner = getattr(j, "jaxpr", None)
            inner = getattr(inner, "jaxpr", inner)
            if inner is not None and hasattr(inner, "eqns"):
                for e in inner.eqns:
                    yield e
                    yield from _sub_eqns(e)
