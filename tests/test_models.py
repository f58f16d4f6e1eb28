"""The Slow-pathway ResNet, its layers and heads, against hand computations."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid.models.heads import MLP
from rhovid.models.layers import BatchNorm
from rhovid.models.resnet3d import ResNet3D


def _param_shapes(model, x_shape):
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(x_shape), train=False))
    return flax.traverse_util.flatten_dict(variables["params"], sep="/")


def _hand_count_slow_r50() -> int:
    """Slow R-50 parameters counted from the architecture table (docs/method.md §2), no classifier.

    conv weights kt·kh·kw·C_in·C_out, BN 2·C. The total equals pytorchvideo's `slow_r50`
    (32,454,096 parameters) minus its 400-way classifier (2048·400 + 400 = 819,600).
    """
    total = 7 * 7 * 3 * 64 + 2 * 64  # stem
    c_in = 64
    for blocks, width, kt in [(3, 64, 1), (4, 128, 1), (6, 256, 3), (3, 512, 3)]:
        for i in range(blocks):
            out = 4 * width
            total += kt * c_in * width + 2 * width  # a: kt×1×1
            total += 9 * width * width + 2 * width  # b: 1×3×3
            total += width * out + 2 * out  # c: 1×1×1
            if i == 0:
                total += c_in * out + 2 * out  # projection shortcut
            c_in = out
    return total


def test_slow_r50_has_the_standard_parameter_count():
    shapes = _param_shapes(ResNet3D(depth=50), (1, 8, 64, 64, 3))
    count = sum(int(np.prod(s.shape)) for s in shapes.values())
    assert _hand_count_slow_r50() == 31_634_496 == 32_454_096 - 819_600
    assert count == 31_634_496


def test_temporal_kernels_sit_on_conv_a_of_res4_and_res5_only():
    shapes = _param_shapes(ResNet3D(depth=50, width=8), (1, 4, 32, 32, 3))
    for name, s in shapes.items():
        if not name.endswith("kernel"):
            continue
        kt = s.shape[0]
        stage = name.split("/")[0]
        if "conv_a" in name and stage[:4] in ("res4", "res5"):
            assert kt == 3, name
        else:
            assert kt == 1, name
        if "conv_b" in name:
            assert s.shape[1:3] == (3, 3), name
    assert shapes["stem_conv/kernel"].shape == (1, 7, 7, 3, 8)


@pytest.mark.parametrize("depth,features", [(18, 64), (50, 256), (101, 256)])
def test_output_shapes_and_no_temporal_downsampling(depth, features):
    model = ResNet3D(depth=depth, width=8)
    x = jnp.zeros((2, 4, 64, 64, 3))
    out = jax.eval_shape(lambda: model.init_with_output(jax.random.PRNGKey(0), x, train=False)[0])
    assert out.shape == (2, features)
    # The last stage's feature map keeps all 4 frames and 64/32 = 2 pixels a side.
    _, state = jax.eval_shape(
        lambda: model.init_with_output(jax.random.PRNGKey(0), x, train=False, capture_intermediates=True)
    )
    inter = flax.traverse_util.flatten_dict(state["intermediates"], sep="/")
    last = [v for k, v in inter.items() if k.startswith(f"res5_{ {18: 1, 50: 2, 101: 2}[depth] }/__call__")]
    assert last[0][0].shape[1:4] == (4, 2, 2)


def test_folded_2d_convolutions_equal_3d_convolutions_in_outputs_and_gradients():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 16, 16, 3))
    folded, plain = ResNet3D(depth=14, width=8, fold_temporal=True), ResNet3D(depth=14, width=8, fold_temporal=False)
    variables = jax.jit(lambda x: folded.init(jax.random.PRNGKey(0), x, train=True))(x)

    def loss(params, model):
        out, _ = model.apply(
            {"params": params, "batch_stats": variables["batch_stats"]}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(out**2), out

    grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
    (l1, o1), g1 = grad_fn(variables["params"], folded)
    (l2, o2), g2 = grad_fn(variables["params"], plain)
    np.testing.assert_allclose(o1, o2, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max() + 1e-6))


def test_bfloat16_compute_keeps_float32_params():
    model = ResNet3D(depth=14, width=8, dtype=jnp.bfloat16)
    x = jnp.ones((2, 2, 32, 32, 3))
    out, variables = jax.jit(lambda x: model.init_with_output(jax.random.PRNGKey(0), x, train=False))(x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"]))
    assert out.dtype == jnp.float32 and out.shape == (2, 256)


def test_remat_gives_the_same_gradients():
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 2, 16, 16, 3))
    model, remat = ResNet3D(depth=14, width=8), ResNet3D(depth=14, width=8, remat=True)
    variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False))(x)

    def grads(m):
        return jax.jit(jax.grad(lambda p: m.apply({"params": p, "batch_stats": variables["batch_stats"]}, x).sum()))(
            variables["params"]
        )

    for a, b in zip(jax.tree.leaves(grads(model)), jax.tree.leaves(grads(remat))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("group_size", [0, 2, 3])
def test_grouped_batchnorm_matches_hand_computed_group_statistics(group_size):
    x = np.random.default_rng(0).normal(size=(6, 2, 3, 3, 4)).astype(np.float32) * 3 + 1
    bn = BatchNorm(group_size=group_size, momentum=0.9)
    variables = bn.init(jax.random.PRNGKey(0), jnp.asarray(x), train=True)
    y, updates = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    g = group_size or 6
    expected, means, variances = [], [], []
    for start in range(0, 6, g):
        part = x[start : start + g]
        mean = part.mean(axis=(0, 1, 2, 3))
        var = part.var(axis=(0, 1, 2, 3))
        expected.append((part - mean) / np.sqrt(var + 1e-5))
        means.append(mean)
        variances.append(part.reshape(-1, 4).var(axis=0, ddof=1))  # PyTorch keeps the unbiased one
    np.testing.assert_allclose(y, np.concatenate(expected), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(updates["batch_stats"]["mean"], 0.1 * np.mean(means, 0), rtol=1e-5)
    np.testing.assert_allclose(updates["batch_stats"]["var"], 0.9 + 0.1 * np.mean(variances, 0), rtol=1e-5)


def test_mlp_layout_follows_the_paper():
    # BYOL projection: 2048 -> 4096 (no bias) -> BN -> ReLU -> 256.
    shapes = _param_shapes_mlp(MLP((4096,), 256, use_bn=True), 2048)
    assert shapes == {
        "dense_0/kernel": (2048, 4096),
        "bn_0/scale": (4096,),
        "bn_0/bias": (4096,),
        "dense_1/kernel": (4096, 256),
        "dense_1/bias": (256,),
    }
    # MoCo projection: 3 layers, no BN, biases everywhere.
    shapes = _param_shapes_mlp(MLP((2048, 2048), 128, use_bn=False), 2048)
    assert sorted(shapes) == [
        "dense_0/bias",
        "dense_0/kernel",
        "dense_1/bias",
        "dense_1/kernel",
        "dense_2/bias",
        "dense_2/kernel",
    ]


def _param_shapes_mlp(mlp, d_in):
    return {k: v.shape for k, v in _param_shapes(mlp, (2, d_in)).items()}
