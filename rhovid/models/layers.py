"""The two layers the video networks are built from: a 3-D convolution and a grouped BatchNorm.

`Conv3D` owns a kernel of shape [kt, kh, kw, C_in, C_out] whatever way it runs. When its temporal
kernel is 1 and `fold_temporal` is set, it runs as a 2-D convolution over the folded batch B·T:
the same maths, and on XLA:CPU several times faster (its 3-D convolutions, and especially their
strided backward passes, are slow). Both forms share parameters, so a checkpoint does not care.

Pointwise (1×1×1) convolutions, spatially strided or not, can run as a matrix product over the
channels (`pointwise_as_matmul`): the same sums, but XLA:CPU computes the weight gradient of a 1×1
convolution through a generic convolution emitter that is 5–15× slower than its matrix-product
path (measured in benchmarks/README.md). On GPU and TPU both forms reach the same GEMM/MXU
kernels, so by default (None) the matrix form is used only when JAX's default backend is the CPU.

`BatchNorm` normalises over (batch, T, H, W) of groups of `group_size` clips. Under `jax.jit` over
a batch-sharded global array, a plain BatchNorm sees the global batch (SyncBN); the paper's ρMoCo
uses per-device BN over 8 clips, which is group_size = per-device batch. Groups are contiguous
slices of the batch, so with group_size equal to the per-device batch each group lives on one
device and XLA needs no communication to compute its statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# MSRA (He) init, fan-out, as PySlowFast's c2_msra_fill: normal(0, sqrt(2 / (k·k·k·C_out))).
msra_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def pointwise_as_matmul_default() -> bool:
    """Whether `Conv3D` runs 1×1×1 kernels as matrix products when not told: on the CPU only."""
    return jax.default_backend() == "cpu"


class Conv3D(nn.Module):
    """3-D convolution over [N, T, H, W, C] with 'SAME'-style symmetric padding (k // 2), no bias.

    Attributes:
      features: output channels.
      kernel: (kt, kh, kw).
      strides: (st, sh, sw).
      fold_temporal: run kernels with kt == st == 1 as 2-D convolutions over N·T.
      pointwise_as_matmul: run 1×1×1 kernels as a strided slice and a matrix product over the
        channels; None = only on the CPU backend (see `pointwise_as_matmul_default`).
      dtype: compute dtype (the kernel is stored in float32).
    """

    features: int
    kernel: Sequence[int] = (1, 1, 1)
    strides: Sequence[int] = (1, 1, 1)
    fold_temporal: bool = True
    pointwise_as_matmul: bool | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # [N, T, H, W, C_in] -> [N, T', H', W', C_out]
        kt, kh, kw = self.kernel
        w = self.param("kernel", msra_init, (kt, kh, kw, x.shape[-1], self.features), jnp.float32)
        w = w.astype(self.dtype)
        x = x.astype(self.dtype)
        pads = [(k // 2, k // 2) for k in self.kernel]
        as_matmul = self.pointwise_as_matmul
        if as_matmul is None:
            as_matmul = pointwise_as_matmul_default()
        if as_matmul and (kt, kh, kw) == (1, 1, 1):
            st, sh, sw = self.strides
            x = x[:, ::st, ::sh, ::sw]  # the pixels a 1×1 kernel with no padding visits
            return jnp.einsum("nthwc,cd->nthwd", x, w[0, 0, 0])
        if self.fold_temporal and kt == 1 and self.strides[0] == 1:
            n, t = x.shape[:2]
            y = jax.lax.conv_general_dilated(
                x.reshape((n * t,) + x.shape[2:]),  # [N·T, H, W, C]
                w[0],
                window_strides=tuple(self.strides[1:]),
                padding=pads[1:],
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
            return y.reshape((n, t) + y.shape[1:])
        return jax.lax.conv_general_dilated(
            x, w, window_strides=tuple(self.strides), padding=pads,
            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"),
        )


class BatchNorm(nn.Module):
    """BatchNorm over all axes but the last, computed per group of `group_size` samples.

    Attributes:
      group_size: samples of the leading axis per statistics group; 0 (or >= batch) means one
        group over the whole (global) batch. Running statistics average the groups' statistics.
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
