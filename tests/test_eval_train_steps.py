"""The linear-probe and fine-tuning train steps on a tiny Slow ResNet (depth 14, width 8, 4×32²).

Linear probe: backbone params and BN statistics are bit-identical after a step (unless BN drift is
asked for), the head moves exactly by SGD's first step on the NumPy cross-entropy gradient, and the
backbone is not differentiated (the step's program has only the forward convolutions).
Fine-tuning: backbone params and statistics change.
"""

import functools
import importlib.util
import os

import jax
import jax.extend
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import traverse_util

from rhovid import config as config_lib
from rhovid import optim, presets, sharding
from rhovid.data.reading import device_augment
from rhovid.eval import features, finetune, linear
from rhovid.models.resnet3d import build_backbone

B, T, S, C = 8, 4, 32, 5


def _random_variables(model, seed=0):
    """He-normal kernels, unit BN scale, random BN statistics (no init compile needed)."""
    shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros((1, T, S, S, 3)))
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1]
        if name == "kernel":
            return (rng.normal(size=s.shape) * np.sqrt(2.0 / np.prod(s.shape[:-1]))).astype(np.float32)
        if name == "scale":
            return np.ones(s.shape, np.float32)
        if name == "mean":
            return rng.normal(0, 0.1, s.shape).astype(np.float32)
        if name == "var":
            return rng.uniform(0.5, 1.5, s.shape).astype(np.float32)
        return np.zeros(s.shape, np.float32)

    flat = traverse_util.flatten_dict(shapes)
    return traverse_util.unflatten_dict({k: fill(k, v) for k, v in flat.items()})


@pytest.fixture(scope="module")
def setup():
    cfg = presets.apply(config_lib.base_config("byol"), "tiny")
    model = build_backbone(cfg.model)  # tiny: depth 14 (one bottleneck per stage), width 8
    mesh = sharding.make_mesh()
    variables = jax.device_put(_random_variables(model), sharding.replicated(mesh))
    backbone = features.Backbone(model=model, variables=variables, model_config=cfg.model, pretrained=None)
    rng = np.random.default_rng(1)
    batch = {
        "clips": rng.integers(0, 256, (B, T, S, S, 3), dtype=np.uint8),
        "label": rng.integers(0, C, B).astype(np.int32),
    }
    optim_cfg = ml_collections.ConfigDict(
        dict(optimizer="sgd", momentum=0.9, nesterov=False, weight_decay=0.0, grad_clip_norm=0.0)
    )
    return dict(cfg=cfg, model=model, mesh=mesh, backbone=backbone, batch=batch, optim_cfg=optim_cfg)


def _host(tree):
    return jax.tree.map(lambda x: np.array(x, copy=True), tree)


def _linear(setup, lr, bn_drift=False):
    s = setup
    schedule = lambda step: lr
    tx = optim.make_optimizer(s["optim_cfg"], schedule)
    state = finetune.create_state(
        s["backbone"], s["model"].num_features, C, tx, trainable="head", seed=0, mesh=s["mesh"]
    )
    step = linear.make_linear_step(s["model"], C, tx, schedule, s["cfg"].data, bn_stats_drift=bn_drift)
    return state, step


def test_linear_step_freezes_backbone_and_follows_sgd(setup):
    s = setup
    lr = 0.5
    state, step = _linear(s, lr)
    before = _host(state)
    new, metrics = jax.jit(step)(state, sharding.to_global(s["batch"], s["mesh"]))
    after = _host(new)
    for part in ("backbone",):
        for a, b in zip(jax.tree.leaves(before.params[part]), jax.tree.leaves(after.params[part])):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(before.batch_stats), jax.tree.leaves(after.batch_stats)):
        np.testing.assert_array_equal(a, b)
    # Reference: features in inference mode, then NumPy's softmax cross-entropy gradient.
    x = device_augment.normalize(jnp.asarray(s["batch"]["clips"]), s["cfg"].data)
    feats = np.asarray(s["model"].apply(_host(s["backbone"].variables), x, train=False), np.float64)
    w0, b0 = (np.asarray(before.params["head"][k], np.float64) for k in ("kernel", "bias"))
    logits = feats @ w0 + b0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.eye(C)[s["batch"]["label"]]
    grad_w, grad_b = feats.T @ (p - y) / B, (p - y).mean(0)
    np.testing.assert_allclose(after.params["head"]["kernel"], w0 - lr * grad_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(after.params["head"]["bias"], b0 - lr * grad_b, rtol=1e-4, atol=1e-6)
    want_loss = -np.mean(np.log(p[np.arange(B), s["batch"]["label"]]))
    assert float(metrics["loss"]) == pytest.approx(want_loss, rel=1e-4)


def test_linear_step_bn_drift_updates_statistics_only(setup):
    state, step = _linear(setup, 0.1, bn_drift=True)
    before = _host(state)
    after = _host(jax.jit(step)(state, sharding.to_global(setup["batch"], setup["mesh"]))[0])
    for a, b in zip(jax.tree.leaves(before.params["backbone"]), jax.tree.leaves(after.params["backbone"])):
        np.testing.assert_array_equal(a, b)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(before.batch_stats), jax.tree.leaves(after.batch_stats))
    ]
    assert all(changed)


def _count_convs(jaxpr) -> int:
    n = 0
    for eqn in jaxpr.eqns:
        n += eqn.primitive.name == "conv_general_dilated"
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            n += _count_convs(sub)
    return n


def test_backbone_forward_is_not_differentiated(setup):
    s = setup
    state, step = _linear(s, 0.1)
    batch = {k: jnp.asarray(v) for k, v in s["batch"].items()}
    x = device_augment.normalize(batch["clips"], s["cfg"].data)
    forward = _count_convs(jax.make_jaxpr(lambda v: s["model"].apply(v, x, train=False))(s["backbone"].variables).jaxpr)
    assert forward > 0
    assert _count_convs(jax.make_jaxpr(step)(state, batch).jaxpr) == forward
    tx = optim.make_optimizer(s["optim_cfg"], lambda _: 0.1)
    ft_state = finetune.create_state(
        s["backbone"], s["model"].num_features, C, tx, trainable="all", seed=0, mesh=s["mesh"]
    )
    ft_step = finetune.make_finetune_step(s["model"], C, tx, lambda _: 0.1, s["cfg"].data, 0.8)
    assert _count_convs(jax.make_jaxpr(ft_step)(ft_state, batch).jaxpr) >= 2 * forward


def test_finetune_step_changes_backbone(setup):
    s = setup
    tx = optim.make_optimizer(s["optim_cfg"], lambda _: 0.1)
    state = finetune.create_state(
        s["backbone"], s["model"].num_features, C, tx, trainable="all", seed=0, mesh=s["mesh"]
    )
    step = finetune.make_finetune_step(s["model"], C, tx, lambda _: 0.1, s["cfg"].data, 0.8)
    before = _host(state)
    new, metrics = jax.jit(step, donate_argnums=0)(state, sharding.to_global(s["batch"], s["mesh"]))
    after = _host(new)
    flat_b = traverse_util.flatten_dict(before.params["backbone"])
    flat_a = traverse_util.flatten_dict(after.params["backbone"])
    kernels = [k for k in flat_b if k[-1] == "kernel"]
    assert all(not np.array_equal(flat_b[k], flat_a[k]) for k in kernels)
    assert not np.array_equal(before.params["head"]["kernel"], after.params["head"]["kernel"])
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(before.batch_stats), jax.tree.leaves(after.batch_stats))
    ]
    assert all(changed)
    assert np.isfinite(float(metrics["loss"]))
    # The source backbone survives the donated step (create_state copies it).
    assert np.all(np.isfinite(jax.tree.leaves(s["backbone"].variables)[0]))


def test_finetune_step_schedule_and_epoch_arithmetic():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("ft", os.path.join(root, "configs/eval/finetune.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config("ucf101")
    # UCF101 split 1 has 9537 training videos: ceil(9537 / 64) = 150 steps per epoch, 200 epochs.
    total, per_epoch = finetune.num_train_steps(config, 9537)
    assert (total, per_epoch) == (30000, 150)
    lr = finetune.make_schedule(config, total, per_epoch)
    # Paper: 0.025 at batch 64, ÷10 at epochs 60, 120, 180.
    for epoch, want in (
        (0, 0.025),
        (59.9, 0.025),
        (60, 0.0025),
        (119, 0.0025),
        (120, 0.00025),
        (180, 0.000025),
        (199.9, 0.000025),
    ):
        assert float(lr(int(epoch * per_epoch))) == pytest.approx(want, rel=1e-5), epoch
