"""R(2+1)D-50, the factorised 3-D ResNet of Table 5 (Tran et al., CVPR 2018), as PyTorchVideo builds it.

    stem   1×7×7 conv, 64, stride (1, 2, 2), BN, ReLU (no max-pool)
    res2   3 bottlenecks, w = 64,  spatial stride 2
    res3   4 bottlenecks, w = 128, spatial stride 2
    res4   6 bottlenecks, w = 256, spatial stride 2, temporal stride 2
    res5   3 bottlenecks, w = 512, spatial stride 2, temporal stride 2
    head   global average pool over T×H×W -> [N, 32·width] (2048 for width 64)

Each bottleneck is [1×1², w; (2+1)-D 3×3²: 3×1² conv w -> w, BN, ReLU, 1×3² conv w -> w; 1×1², 4w],
BN + ReLU after each conv but the last (BN only, then the residual sum and ReLU). The first block of
a stage carries the stride (temporal on the 3×1² conv, spatial on the 1×3² conv) and a 1×1×1
projection shortcut with the same stride. This is `pytorchvideo.models.create_r2plus1d` at depth 50
without its classification head; tests/test_backbones.py checks the parameter count against it.
An 8×224² clip leaves res5 as 2×7², so inputs need at least 4 frames (1 after res5).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rhovid.models.layers import BatchNorm, Conv3D

STAGE_DEPTHS = {14: (1, 1, 1, 1), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
SPATIAL_STRIDES = (2, 2, 2, 2)
TEMPORAL_STRIDES = (1, 1, 2, 2)


class Bottleneck2Plus1D(nn.Module):
    """[1×1², w; 3×1², w; 1×3², w; 1×1², 4w] with a strided projection shortcut when needed."""

    width: int
    strides: tuple[int, int, int]  # (temporal, spatial, spatial)
    bn_group_size: int = 0
    bn_momentum: float = 0.9
    matmul_forms: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = lambda f, k, s, name: Conv3D(f, k, s, matmul_forms=self.matmul_forms, dtype=self.dtype, name=name)
        bn = lambda name: BatchNorm(
            group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype, name=name
        )
        st, ss, _ = self.strides
        out_features = 4 * self.width
        shortcut = x
        if self.strides != (1, 1, 1) or x.shape[-1] != out_features:
            shortcut = bn("shortcut_bn")(conv(out_features, (1, 1, 1), self.strides, "shortcut_conv")(x), train)
        y = nn.relu(bn("bn_a")(conv(self.width, (1, 1, 1), (1, 1, 1), "conv_a")(x), train))
        y = nn.relu(bn("bn_b_t")(conv(self.width, (3, 1, 1), (st, 1, 1), "conv_b_t")(y), train))
        y = nn.relu(bn("bn_b_xy")(conv(self.width, (1, 3, 3), (1, ss, ss), "conv_b_xy")(y), train))
        y = bn("bn_c")(conv(out_features, (1, 1, 1), (1, 1, 1), "conv_c")(y), train)
        return nn.relu(y + shortcut)


class R2Plus1D(nn.Module):
    """R(2+1)D ResNet: [N, T, H, W, 3] normalised clips -> [N, 32·width] pooled features."""

    depth: int = 50
    width: int = 64
    dtype: Any = jnp.float32
    remat: bool = False
    matmul_forms: str = "auto"
    bn_group_size: int = 0
    bn_momentum: float = 0.9

    @property
    def num_features(self) -> int:
        return self.width * 32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.depth not in STAGE_DEPTHS:
            raise ValueError(f"model.depth={self.depth} is not one of {sorted(STAGE_DEPTHS)} for R(2+1)D.")
        bn = dict(bn_group_size=self.bn_group_size, bn_momentum=self.bn_momentum)
        x = Conv3D(self.width, (1, 7, 7), (1, 2, 2), matmul_forms=self.matmul_forms, dtype=self.dtype,
                   name="stem_conv")(x)  # fmt: skip
        x = nn.relu(BatchNorm(group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype,
                              name="stem_bn")(x, train))  # fmt: skip
        block_cls = nn.remat(Bottleneck2Plus1D, static_argnums=(2,)) if self.remat else Bottleneck2Plus1D
        for stage, num_blocks in enumerate(STAGE_DEPTHS[self.depth]):
            for i in range(num_blocks):
                strides = (TEMPORAL_STRIDES[stage], SPATIAL_STRIDES[stage], SPATIAL_STRIDES[stage])
                x = block_cls(
                    width=self.width * 2**stage,
                    strides=strides if i == 0 else (1, 1, 1),
                    matmul_forms=self.matmul_forms,
                    dtype=self.dtype,
                    name=f"res{stage + 2}_{i}",
                    **bn,
                )(x, train)
        return x.astype(jnp.float32).mean(axis=(1, 2, 3))  # [N, D]
