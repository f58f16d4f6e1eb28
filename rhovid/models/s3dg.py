"""S3D-G, the separable, gated Inception-v1 3-D network of Table 5 (Xie et al., ECCV 2018).

    conv1   separable 7×7×7, 64, stride 2 (1×7² stride (1,2,2) then 7×1² stride (2,1,1))
    pool    max 1×3², stride (1, 2, 2)
    conv2   1×1×1, 64; separable 3×3×3, 192; self-gating
    pool    max 1×3², stride (1, 2, 2)
    mixed3  b, c                      (256, 480 channels)
    pool    max 3×3×3, stride 2
    mixed4  b, c, d, e, f             (512, 512, 512, 528, 832)
    pool    max 2×2×2, stride 2
    mixed5  b, c                      (832, 1024)
    head    global average pool over T×H×W -> [N, 1024·width/64]

A separable k×k×k conv is a 1×k² conv, BN, ReLU, then a k×1² conv, BN, ReLU (out -> out channels).
Each Inception block has four branches: 1×1×1; 1×1×1 then separable 3×3×3; 1×1×1 then separable
3×3×3; max 3×3×3 (stride 1) then 1×1×1; every conv is followed by BN and ReLU, and each branch's
output by self-gating, y = x · σ(W·mean_THW(x) + b) with a C×C matrix W and bias b per branch,
before the four are concatenated. Pools pad "SAME" so short clips survive (8 frames: T = 4, 2, 1
after conv1, pool4, pool5). `width` scales every channel count by width/64 (64: the paper's net).
The parameter count is checked by hand in tests/test_backbones.py.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rhovid.models.layers import BatchNorm, Conv3D

# (1×1, 3×3 reduce, 3×3, 3×3 reduce, 3×3, pool proj) per block, at width 64 (Inception-v1).
MIXED = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Max-pools (window, stride) placed before the named block.
POOLS = {"mixed_4b": ((3, 3, 3), (2, 2, 2)), "mixed_5b": ((2, 2, 2), (2, 2, 2))}


class _Common(nn.Module):
    bn_group_size: int = 0
    bn_momentum: float = 0.9
    matmul_forms: str = "auto"
    dtype: Any = jnp.float32

    def conv_bn_relu(self, x, features, kernel, strides, train, name):
        x = Conv3D(features, kernel, strides, matmul_forms=self.matmul_forms, dtype=self.dtype, name=name)(x)
        bn = BatchNorm(group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype, name=f"{name}_bn")
        return nn.relu(bn(x, train))

    def sep_conv(self, x, features, k, stride, train, name):
        """1×k² (spatial stride) then k×1² (temporal stride), each with BN and ReLU."""
        x = self.conv_bn_relu(x, features, (1, k, k), (1, stride, stride), train, f"{name}_s")
        return self.conv_bn_relu(x, features, (k, 1, 1), (stride, 1, 1), train, f"{name}_t")


class SelfGating(nn.Module):
    """y = x · σ(W·mean_THW(x) + b): a per-channel gate from the clip's pooled features."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # [N, T, H, W, C]
        pooled = x.astype(jnp.float32).mean(axis=(1, 2, 3))  # [N, C]
        gate = nn.sigmoid(nn.Dense(x.shape[-1], name="dense")(pooled))  # [N, C]
        return (x * gate[:, None, None, None, :].astype(x.dtype)).astype(self.dtype)


class InceptionBlock(_Common):
    channels: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c0, c1r, c1, c2r, c2, c3 = self.channels
        b0 = self.conv_bn_relu(x, c0, (1, 1, 1), (1, 1, 1), train, "b0")
        b1 = self.conv_bn_relu(x, c1r, (1, 1, 1), (1, 1, 1), train, "b1_reduce")
        b1 = self.sep_conv(b1, c1, 3, 1, train, "b1")
        b2 = self.conv_bn_relu(x, c2r, (1, 1, 1), (1, 1, 1), train, "b2_reduce")
        b2 = self.sep_conv(b2, c2, 3, 1, train, "b2")
        b3 = nn.max_pool(x, (3, 3, 3), strides=(1, 1, 1), padding="SAME")
        b3 = self.conv_bn_relu(b3, c3, (1, 1, 1), (1, 1, 1), train, "b3")
        gated = [SelfGating(self.dtype, name=f"gate{i}")(b) for i, b in enumerate((b0, b1, b2, b3))]
        return jnp.concatenate(gated, axis=-1)


class S3DG(_Common):
    """S3D-G: [N, T, H, W, 3] normalised clips -> [N, 16·width] pooled features (1024 at width 64)."""

    width: int = 64
    remat: bool = False

    @property
    def num_features(self) -> int:
        return sum(_scale(c, self.width) for c in _outputs(MIXED["mixed_5c"]))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        common = dict(bn_group_size=self.bn_group_size, bn_momentum=self.bn_momentum,
                      matmul_forms=self.matmul_forms, dtype=self.dtype)  # fmt: skip
        w = lambda c: _scale(c, self.width)
        x = self.sep_conv(x, w(64), 7, 2, train, "conv1")
        x = nn.max_pool(x, (1, 3, 3), strides=(1, 2, 2), padding="SAME")
        x = self.conv_bn_relu(x, w(64), (1, 1, 1), (1, 1, 1), train, "conv2b")
        x = self.sep_conv(x, w(192), 3, 1, train, "conv2c")
        x = SelfGating(self.dtype, name="conv2c_gate")(x)
        x = nn.max_pool(x, (1, 3, 3), strides=(1, 2, 2), padding="SAME")
        block_cls = nn.remat(InceptionBlock, static_argnums=(2,)) if self.remat else InceptionBlock
        for name, channels in MIXED.items():
            if name in POOLS:
                window, strides = POOLS[name]
                x = nn.max_pool(x, window, strides=strides, padding="SAME")
            x = block_cls(channels=tuple(w(c) for c in channels), name=name, **common)(x, train)
        return x.astype(jnp.float32).mean(axis=(1, 2, 3))  # [N, D]


def _scale(channels: int, width: int) -> int:
    return max(1, channels * width // 64)


def _outputs(channels: tuple[int, ...]) -> tuple[int, ...]:
    c0, _, c1, _, c2, c3 = channels
    return c0, c1, c2, c3
