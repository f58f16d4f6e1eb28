"""The Slow pathway 3-D ResNet ("Slow 8×8", docs/method.md §2), the backbone of every ρ method.

    stem   1×7×7 conv, stride (1,2,2), BN, ReLU; 1×3×3 max-pool, stride (1,2,2)
    res2   blocks with temporal kernel 1          (out 4·w channels for bottlenecks)
    res3   blocks with temporal kernel 1, spatial stride 2
    res4   blocks with temporal kernel 3 on the first conv of every block, spatial stride 2
    res5   as res4
    head   global average pool over T×H×W -> [N, 32·w] (2048 for R-50 with w = 64)

Time is never downsampled. The spatial stride sits on the 3×3 conv (PySlowFast's
`STRIDE_1X1: False`). Depth 18 uses basic blocks (temporal kernel on their first 3×3 conv);
depths 50 and 101 use bottlenecks. `width` is the stem's channel count (64 for the paper's nets,
8 for tiny test models). Depth 14 (one bottleneck per stage) exists only to keep tests fast.

Mixed precision (`model.dtype=bfloat16`): the convolutions (bf16 inputs and kernels; GPUs and
TPUs accumulate their products in float32), BN outputs, ReLUs, max-pool and residual sums run
in bfloat16. Float32 throughout are: the parameters (each conv casts its float32 kernel at use,
so gradients and the optimiser state are float32), BN's batch statistics, running averages and
normalisation arithmetic (layers.BatchNorm), and the global average pool, so the features this
module hands to the heads are float32. Downstream of it everything is float32 too: the
projection and prediction heads (heads.MLP casts its input), SwAV's prototypes and Sinkhorn,
the losses, and the MoCo and SwAV queues. tests/test_bf16.py checks losses and gradients against
float32 for every method.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from rhovid.models.layers import BatchNorm, Conv3D

# 14 is not a paper network: one bottleneck per stage, for fast tests with every kind of block.
STAGE_DEPTHS = {14: (1, 1, 1, 1), 18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
TEMPORAL_KERNELS = (1, 1, 3, 3)  # per stage res2..res5 (`_TEMPORAL_KERNEL_BASIS["slow"]`)
SPATIAL_STRIDES = (1, 2, 2, 2)


class Bottleneck(nn.Module):
    """[kt×1², w; 1×3², w; 1×1², 4w] with a projection shortcut when the shape changes."""

    width: int
    temporal_kernel: int
    stride: int
    fold_temporal: bool = True
    matmul_forms: str = "auto"
    bn_group_size: int = 0
    bn_momentum: float = 0.9
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = lambda f, k, s, name: Conv3D(
            f, k, s, fold_temporal=self.fold_temporal, matmul_forms=self.matmul_forms, dtype=self.dtype, name=name
        )
        bn = lambda name: BatchNorm(
            group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype, name=name
        )
        out_features = 4 * self.width
        s = (1, self.stride, self.stride)
        shortcut = x
        if self.stride != 1 or x.shape[-1] != out_features:
            shortcut = conv(out_features, (1, 1, 1), s, "shortcut_conv")(x)
            shortcut = bn("shortcut_bn")(shortcut, train)
        y = conv(self.width, (self.temporal_kernel, 1, 1), (1, 1, 1), "conv_a")(x)
        y = nn.relu(bn("bn_a")(y, train))
        y = conv(self.width, (1, 3, 3), s, "conv_b")(y)
        y = nn.relu(bn("bn_b")(y, train))
        y = conv(out_features, (1, 1, 1), (1, 1, 1), "conv_c")(y)
        y = bn("bn_c")(y, train)
        return nn.relu(y + shortcut)


class BasicBlock(nn.Module):
    """[kt×3², w; 1×3², w] (ResNet-18/34 style) with a projection shortcut when needed."""

    width: int
    temporal_kernel: int
    stride: int
    fold_temporal: bool = True
    matmul_forms: str = "auto"
    bn_group_size: int = 0
    bn_momentum: float = 0.9
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = lambda f, k, s, name: Conv3D(
            f, k, s, fold_temporal=self.fold_temporal, matmul_forms=self.matmul_forms, dtype=self.dtype, name=name
        )
        bn = lambda name: BatchNorm(
            group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype, name=name
        )
        s = (1, self.stride, self.stride)
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.width:
            shortcut = conv(self.width, (1, 1, 1), s, "shortcut_conv")(x)
            shortcut = bn("shortcut_bn")(shortcut, train)
        y = conv(self.width, (self.temporal_kernel, 3, 3), s, "conv_a")(x)
        y = nn.relu(bn("bn_a")(y, train))
        y = conv(self.width, (1, 3, 3), (1, 1, 1), "conv_b")(y)
        y = bn("bn_b")(y, train)
        return nn.relu(y + shortcut)


class ResNet3D(nn.Module):
    """Slow-pathway ResNet: [N, T, H, W, 3] normalised clips -> [N, D] pooled features.

    Attributes:
      depth: 18, 50 or 101.
      width: stem channels (64 in the paper); stage widths are width·(1, 2, 4, 8).
      dtype: compute dtype (float32 or bfloat16); parameters and BN statistics stay float32.
      remat: rematerialise each residual block in the backward pass (saves activation memory).
      fold_temporal: run temporal-kernel-1 convolutions as 2-D convolutions over N·T.
      matmul_forms: XLA:CPU-friendly convolution formulations ("auto": all on the CPU backend,
        none elsewhere; see rhovid.models.layers).
      bn_group_size: clips per BatchNorm group (0 = whole global batch, i.e. SyncBN).
      bn_momentum: BN running-average decay.
    """

    depth: int = 50
    width: int = 64
    dtype: Any = jnp.float32
    remat: bool = False
    fold_temporal: bool = True
    matmul_forms: str = "auto"
    bn_group_size: int = 0
    bn_momentum: float = 0.9

    @property
    def num_features(self) -> int:
        return self.width * 8 * (1 if self.depth == 18 else 4)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.depth not in STAGE_DEPTHS:
            raise ValueError(f"model.depth={self.depth} is not one of {sorted(STAGE_DEPTHS)}.")
        kw = dict(
            fold_temporal=self.fold_temporal,
            matmul_forms=self.matmul_forms,
            bn_group_size=self.bn_group_size,
            bn_momentum=self.bn_momentum,
            dtype=self.dtype,
        )
        x = Conv3D(
            self.width,
            (1, 7, 7),
            (1, 2, 2),
            fold_temporal=self.fold_temporal,
            matmul_forms=self.matmul_forms,
            dtype=self.dtype,
            name="stem_conv",
        )(x)
        x = nn.relu(
            BatchNorm(group_size=self.bn_group_size, momentum=self.bn_momentum, dtype=self.dtype, name="stem_bn")(
                x, train
            )
        )
        x = nn.max_pool(x, (1, 3, 3), strides=(1, 2, 2), padding=((0, 0), (1, 1), (1, 1)))

        block_cls = BasicBlock if self.depth == 18 else Bottleneck
        if self.remat:
            block_cls = nn.remat(block_cls, static_argnums=(2,))
        for stage, num_blocks in enumerate(STAGE_DEPTHS[self.depth]):
            for i in range(num_blocks):
                x = block_cls(
                    width=self.width * 2**stage,
                    temporal_kernel=TEMPORAL_KERNELS[stage],
                    stride=SPATIAL_STRIDES[stage] if i == 0 else 1,
                    name=f"res{stage + 2}_{i}",
                    **kw,
                )(x, train)
        return x.astype(jnp.float32).mean(axis=(1, 2, 3))  # [N, D]


def build_backbone(model_cfg: ml_collections.ConfigDict, **overrides) -> ResNet3D:
    """The backbone a config describes (`config.model`)."""
    if model_cfg.get("arch", "slow") != "slow":  # R(2+1)D or S3D-G (rhovid.models.backbones)
        from rhovid.models.backbones import build_other

        return build_other(model_cfg, **overrides)
    kw = dict(
        depth=model_cfg.depth,
        width=model_cfg.width,
        dtype=jnp.dtype(model_cfg.dtype),
        remat=model_cfg.remat,
        fold_temporal=model_cfg.fold_temporal,
        matmul_forms=model_cfg.get("matmul_forms", "auto"),  # absent in configs saved before it
        bn_group_size=model_cfg.bn_group_size,
        bn_momentum=model_cfg.bn_momentum,
    )
    kw.update(overrides)
    return ResNet3D(**kw)
