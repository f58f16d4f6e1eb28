"""The CPU-fast convolution formulations (rhovid.models.layers) against plain 3-D convolutions.

Reference: `jax.lax.conv_general_dilated` over [N, T, H, W, C] with the 3-D kernel, i.e. the
network with every fast path switched off (`fold_temporal=False, matmul_forms="none"`). Each
formulation must give the same outputs and the same gradients w.r.t. input and kernel.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid.models import layers
from rhovid.models.layers import Conv3D
from rhovid.models.resnet3d import ResNet3D

PLAIN = dict(fold_temporal=False, matmul_forms="none")


def _conv3d_reference(x, w, strides):
    pads = [(k // 2, k // 2) for k in w.shape[:3]]
    return jax.lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))


def _primitives(fn, *args) -> set[str]:
    return {str(e.primitive) for e in jax.make_jaxpr(fn)(*args).jaxpr.eqns}


CASES = [  # form, kernel, strides, side, C_in: every code path of each form once
    ("pointwise", (1, 1, 1), (1, 1, 1), 6, 5),
    ("pointwise", (1, 1, 1), (2, 2, 1), 7, 5),  # strided, odd side: the slice must match the conv's taps
    ("temporal", (3, 1, 1), (1, 1, 1), 5, 6),
    ("temporal", (5, 1, 1), (1, 1, 1), 4, 3),
    ("weight_grad", (1, 3, 3), (1, 2, 2), 8, 4),
    ("weight_grad", (1, 7, 7), (1, 2, 2), 11, 3),  # the stem's shape, odd side
]


@pytest.mark.parametrize("form,kernel,strides,hw,c_in", CASES)
def test_each_form_equals_the_3d_convolution_in_outputs_and_gradients(form, kernel, strides, hw, c_in):
    kx, kw, kd = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (2, 4, hw, hw, c_in))
    conv = Conv3D(7, kernel, strides, matmul_forms=form)
    w = conv.init(kw, x)["params"]["kernel"]
    if form != "weight_grad":  # the weight-gradient form keeps the forward a convolution
        assert "conv_general_dilated" not in _primitives(conv.apply, {"params": {"kernel": w}}, x)

    @jax.jit  # one program per case: compiling op by op dominated this test's time
    def both(x, w):
        dy = jax.random.normal(kd, jax.eval_shape(lambda: _conv3d_reference(x, w, strides)).shape)
        y, vjp = jax.vjp(lambda x, w: conv.apply({"params": {"kernel": w}}, x), x, w)
        y_ref, vjp_ref = jax.vjp(lambda x, w: _conv3d_reference(x, w, strides), x, w)
        return (y, *vjp(dy)), (y_ref, *vjp_ref(dy))

    (y, gx, gw), (y_ref, gx_ref, gw_ref) = both(x, w)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-5, atol=1e-4)


def test_forms_resolve_to_all_on_cpu_none_elsewhere_and_bad_names_fail():
    expected = set(layers.MATMUL_FORMS) if jax.default_backend() == "cpu" else set()
    assert layers.resolve_matmul_forms("auto") == expected
    assert layers.resolve_matmul_forms("none") == set()
    assert layers.resolve_matmul_forms("temporal,pointwise") == {"temporal", "pointwise"}
    with pytest.raises(ValueError, match="'spatial'"):
        layers.resolve_matmul_forms("pointwise,spatial")
    x = jnp.ones((1, 2, 4, 4, 3))
    for forms, expect_conv in (("none", True), ("pointwise", False)):
        conv = Conv3D(4, (1, 1, 1), matmul_forms=forms)
        params = conv.init(jax.random.PRNGKey(0), x)
        assert ("conv_general_dilated" in _primitives(conv.apply, params, x)) == expect_conv


def test_fast_resnet_equals_the_plain_3d_resnet_in_outputs_and_gradients():
    """Whole network: outputs to 1e-5; gradients as close to a float64 run as the plain float32 net.

    Through BatchNorm over a handful of clips float32 rounding reaches ~1e-4 of a gradient's scale
    whichever formulation runs, and two float32 formulations sum in different orders, so their
    errors differ by a small factor (measured up to 2.4× on the first BN of res2). Each gradient is
    held to 4× the plain 3-D net's own error against float64 (or 2e-4 of its scale, whichever is
    larger): a wrong formulation is off by the gradient's whole scale, thousands of times more.
    """
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 16, 16, 3))
    fast = ResNet3D(depth=14, width=8, fold_temporal=True, matmul_forms=",".join(layers.MATMUL_FORMS))
    plain = ResNet3D(depth=14, width=8, **PLAIN)
    variables = jax.jit(lambda x: plain.init(jax.random.PRNGKey(0), x, train=True))(x)

    def loss(params, model, x, batch_stats):
        out, _ = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(out)), out

    grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
    (_, out_fast), g_fast = grad_fn(variables["params"], fast, x, variables["batch_stats"])
    (_, out_plain), g_plain = grad_fn(variables["params"], plain, x, variables["batch_stats"])
    np.testing.assert_allclose(out_fast, out_plain, rtol=1e-5, atol=1e-5)

    with jax.enable_x64(True):
        to64 = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), t)
        plain64 = ResNet3D(depth=14, width=8, dtype=jnp.float64, **PLAIN)
        _, g_ref = grad_fn(to64(variables["params"]), plain64, to64(x), to64(variables["batch_stats"]))
        g_ref = jax.tree.map(np.asarray, g_ref)
    for (path, a), b, ref in zip(
        jax.tree_util.tree_leaves_with_path(g_fast), jax.tree.leaves(g_plain), jax.tree.leaves(g_ref)
    ):
        err_fast, err_plain = np.abs(a - ref).max(), np.abs(b - ref).max()
        assert err_fast <= max(4 * err_plain, 2e-4 * np.abs(ref).max()), (
            jax.tree_util.keystr(path),
            err_fast,
            err_plain,
        )
