"""The two layers the video networks are built from: a 3-D convolution and a grouped BatchNorm.

`Conv3D` owns a kernel of shape [kt, kh, kw, C_in, C_out] whatever way it runs. When its temporal
kernel is 1 and `fold_temporal` is set, it runs as a 2-D convolution over the folded batch B·T:
the same maths, and on XLA:CPU several times faster (its 3-D convolutions, and especially their
strided backward passes, are slow). Both forms share parameters, so a checkpoint does not care.

On XLA:CPU some convolutions, and above all their weight gradients, take a slow generic path.
`matmul_forms` names the formulations that avoid it, each the same sums in another order (outputs
and gradients equal to float32 rounding; tests/test_conv_formulations.py):

  pointwise    1×1×1 kernels (strided or not): a strided slice and a matrix product over channels
  temporal     kt×1×1 kernels: one matrix product to kt·C_out channels, then kt shifted slices summed
  weight_grad  k×k kernels with at most 64 input channels (the stem, res2's 3×3s): the forward and
               input gradient stay convolutions; the weight gradient is kh matrix products of
               kw-tap patches with the output gradient (a custom VJP)

"auto" (the default) turns all of them on when JAX's default backend is the CPU and none
elsewhere: GPU and TPU programs are unchanged (cuDNN and the MXU have no such slow path, and
benchmarks/README.md has the measurements behind each form).

`BatchNorm` normalises over (batch, T, H, W) of groups of `group_size` clips. Under `jax.jit` over
a batch-sharded global array, a plain BatchNorm sees the global batch (SyncBN); the paper's ρMoCo
uses per-device BN over 8 clips, which is group_size = per-device batch. Groups are contiguous
slices of the batch, so with group_size equal to the per-device batch each group lives on one
device and XLA needs no communication to compute its statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# MSRA (He) init, fan-out, as PySlowFast's c2_msra_fill: normal(0, sqrt(2 / (k·k·k·C_out))).
msra_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


MATMUL_FORMS = ("pointwise", "temporal", "weight_grad")
WEIGHT_GRAD_MAX_CHANNELS = 64  # measured: wider inputs are as fast or faster as XLA convolutions


def resolve_matmul_forms(spec: str) -> frozenset[str]:
    """The formulations a `matmul_forms` string turns on.

    Args:
      spec: "auto" (all of MATMUL_FORMS on the CPU backend, none elsewhere), "none", or a
        comma-separated subset of MATMUL_FORMS.

    Returns:
      The set of form names.
    """
    if spec == "auto":
        return frozenset(MATMUL_FORMS) if jax.default_backend() == "cpu" else frozenset()
    forms = frozenset(f for f in spec.split(",") if f and f != "none")
    unknown = forms - set(MATMUL_FORMS)
    if unknown:
        raise ValueError(
            f"matmul_forms={spec!r} names {sorted(unknown)}; use 'auto', 'none' or a "
            f"comma-separated subset of {MATMUL_FORMS}."
        )
    return forms


def _conv2d(x: jax.Array, w: jax.Array, strides, padding) -> jax.Array:  # NHWC, HWIO
    return jax.lax.conv_general_dilated(
        x, w, window_strides=tuple(strides), padding=padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d_patch_weight_grad(x: jax.Array, w: jax.Array, strides: tuple, padding: tuple) -> jax.Array:
    """A 2-D convolution whose weight gradient is computed from patches by matrix products.

    Args:
      x: [N, H, W, C_in].
      w: [kh, kw, C_in, C_out].
      strides: (sh, sw).
      padding: ((top, bottom), (left, right)).

    Returns:
      [N, H', W', C_out], exactly `lax.conv_general_dilated`'s output.
    """
    return _conv2d(x, w, strides, padding)


def _patch_grad_fwd(x, w, strides, padding):
    return _conv2d(x, w, strides, padding), (x, w)


def _patch_grad_bwd(strides, padding, res, dy):  # dy [N, H', W', C_out]
    x, w = res
    dx = jax.vjp(lambda x: _conv2d(x, w, strides, padding), x)[1](dy)[0]  # dropped by XLA if unused
    kh, kw = w.shape[:2]
    (sh, sw), (ho, wo) = strides, dy.shape[1:3]
    xp = jnp.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
    rows = []
    for i in range(kh):  # row i of the kernel: kw taps side by side on the channel axis
        taps = [xp[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw] for j in range(kw)]
        patches = jnp.concatenate(taps, axis=-1)  # [N, H', W', kw·C_in]
        rows.append(jnp.einsum("nhwk,nhwd->kd", patches, dy, preferred_element_type=jnp.float32))
    dw = jnp.stack(rows).reshape(w.shape).astype(w.dtype)  # [kh, kw·C_in, C_out] -> HWIO
    return dx, dw


conv2d_patch_weight_grad.defvjp(_patch_grad_fwd, _patch_grad_bwd)


def temporal_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """A kt×1×1 convolution (stride 1, padding kt // 2) as one matrix product and shifted sums.

    y[t] = Σ_i x[t + i − p] · w[i] = Σ_i z_i[t + i − p] with z_i = x · w[i], computed as a single
    product of x with the kt kernels side by side.

    Args:
      x: [N, T, H, W, C_in].
      w: [kt, C_in, C_out].

    Returns:
      [N, T, H, W, C_out].
    """
    kt, c_in, c_out = w.shape
    p, t = kt // 2, x.shape[1]
    w_side = jnp.transpose(w, (1, 0, 2)).reshape(c_in, kt * c_out)  # [C_in, kt·C_out]
    z = jnp.einsum("nthwc,cz->nthwz", x, w_side).reshape(x.shape[:4] + (kt, c_out))
    z = jnp.pad(z, ((0, 0), (p, p), (0, 0), (0, 0), (0, 0), (0, 0)))  # [N, T + 2p, H, W, kt, C_out]
    return sum(z[:, i : i + t, :, :, i] for i in range(kt))


class Conv3D(nn.Module):
    """3-D convolution over [N, T, H, W, C] with 'SAME'-style symmetric padding (k // 2), no bias.

    Attributes:
      features: output channels.
      kernel: (kt, kh, kw).
      strides: (st, sh, sw).
      fold_temporal: run kernels with kt == st == 1 as 2-D convolutions over N·T.
      matmul_forms: which XLA:CPU-friendly formulations to use ("auto", "none" or a comma list
        of MATMUL_FORMS; see the module docstring).
      dtype: compute dtype (the kernel is stored in float32).
    """

    features: int
    kernel: Sequence[int] = (1, 1, 1)
    strides: Sequence[int] = (1, 1, 1)
    fold_temporal: bool = True
    matmul_forms: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # [N, T, H, W, C_in] -> [N, T', H', W', C_out]
        kt, kh, kw = self.kernel
        st, sh, sw = self.strides
        c_in = x.shape[-1]
        w = self.param("kernel", msra_init, (kt, kh, kw, c_in, self.features), jnp.float32)
        w = w.astype(self.dtype)
        x = x.astype(self.dtype)
        pads = [(k // 2, k // 2) for k in self.kernel]
        forms = resolve_matmul_forms(self.matmul_forms)
        if kh == kw == 1 and (("pointwise" in forms and kt == 1) or ("temporal" in forms and st == 1)):
            x = x[:, ::st, ::sh, ::sw]  # the pixels a 1×1 spatial kernel with no padding visits
            if kt == 1:
                return jnp.einsum("nthwc,cd->nthwd", x, w[0, 0, 0])
            return temporal_matmul(x, w[:, 0, 0])
        if self.fold_temporal and kt == 1 and st == 1:
            n, t = x.shape[:2]
            x2 = x.reshape((n * t,) + x.shape[2:])  # [N·T, H, W, C]
            if "weight_grad" in forms and c_in <= WEIGHT_GRAD_MAX_CHANNELS:
                y = conv2d_patch_weight_grad(x2, w[0], (sh, sw), tuple(pads[1:]))
            else:
                y = _conv2d(x2, w[0], (sh, sw), pads[1:])
            return y.reshape((n, t) + y.shape[1:])
        return jax.lax.conv_general_dilated(
            x,
            w,
            window_strides=tuple(self.strides),
            padding=pads,
            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"),
        )


class BatchNorm(nn.Module):
    """BatchNorm over all axes but the last, computed per group of `group_size` samples.

    Attributes:
      group_size: samples of the leading axis per statistics group; 0 (or >= batch) means one
        group over the whole (global) batch. A tuple (clips, views): the batch is video-major
        [videos, views] and each group is `clips` videos of one view. Running statistics average
        the groups' statistics.
      momentum: running-average decay (flax convention: 0.9 is PyTorch's 0.1).
      epsilon: added to the variance.
      scale_init: initial γ (1, or 0 for zero-init residual branches).
      dtype: output dtype; statistics are computed in float32.
    """

    group_size: int = 0
    momentum: float = 0.9
    epsilon: float = 1e-5
    scale_init: Any = nn.initializers.ones
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c = x.shape[-1]
        scale = self.param("scale", self.scale_init, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))

        if train:
            if isinstance(self.group_size, tuple):  # (clips, views): groups of one view each
                return self._per_view(x, scale, bias, ra_mean, ra_var, *self.group_size)
            n = x.shape[0]
            g = self.group_size if 0 < self.group_size < n else n
            if n % g:
                raise ValueError(
                    f"BatchNorm group_size={g} does not divide the batch of {n} samples; choose a "
                    "batch size that is a multiple of the BN group size."
                )
            xg = x.astype(jnp.float32).reshape((n // g, g, -1, c))  # [groups, g, T·H·W, C]
            mean = xg.mean(axis=(1, 2))  # [groups, C]
            var = jnp.square(xg).mean(axis=(1, 2)) - jnp.square(mean)
            var = jnp.maximum(var, 0.0)
            if not self.is_initializing():
                # PyTorch keeps the unbiased variance in its running average; do the same.
                m = xg.shape[1] * xg.shape[2]
                unbiased = var.mean(0) * m / max(m - 1, 1)
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean.mean(0)
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * unbiased
            inv = jax.lax.rsqrt(var + self.epsilon) * scale  # [groups, C]
            y = (xg - mean[:, None, None]) * inv[:, None, None] + bias
            return y.reshape(x.shape).astype(self.dtype)
        inv = jax.lax.rsqrt(ra_var.value + self.epsilon) * scale
        y = (x.astype(jnp.float32) - ra_mean.value) * inv + bias
        return y.astype(self.dtype)

    def _per_view(self, x, scale, bias, ra_mean, ra_var, clips: int, views: int) -> jax.Array:
        """group_size = (clips, views): x is [videos·views, ...] video-major; each group holds
        `clips` consecutive videos' clips of ONE view (0 or >= videos: all videos), as when every
        view is its own forward pass (PySlowFast). Statistics reduce over the videos axis."""
        c, n = x.shape[-1], x.shape[0]
        if self.is_initializing() and n % views:  # a dummy init batch: the statistics are not kept
            views = 1
        b = n // views
        g = clips if 0 < clips < b else b
        if n % views or b % g:
            raise ValueError(
                f"BatchNorm groups of {g} clips per view do not divide the {b} videos × {views} "
                "views of the batch; choose a batch size that is a multiple of the BN group size."
            )
        xg = x.astype(jnp.float32).reshape((b // g, g, views, -1, c))  # [groups, g, V, T·H·W, C]
        mean = xg.mean(axis=(1, 3))  # [groups, V, C]
        var = jnp.maximum(jnp.square(xg).mean(axis=(1, 3)) - jnp.square(mean), 0.0)
        if not self.is_initializing():
            m = g * xg.shape[3]
            ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean.mean((0, 1))
            ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var.mean((0, 1)) * m / max(m - 1, 1)
        inv = jax.lax.rsqrt(var + self.epsilon) * scale
        y = (xg - mean[:, None, :, None]) * inv[:, None, :, None] + bias
        return y.reshape(x.shape).astype(self.dtype)
