"""The backbones besides the Slow ResNet, selected by `config.model.arch` (Table 5).

    slow       rhovid.models.resnet3d.ResNet3D of `model.depth` (18, 50, 101), the default
    r2plus1d   rhovid.models.r2plus1d.R2Plus1D of `model.depth` (50)
    s3dg       rhovid.models.s3dg.S3DG (`model.depth` unused)

`rhovid.models.resnet3d.build_backbone` hands every arch but "slow" to `build_other`, so every
method, the evaluations and the embedding API get the same backbone from one config key. Each
network maps [N, T, H, W, 3] clips to [N, num_features] pooled features and takes the same BN
settings (`bn_group_size`, `bn_momentum`), compute dtype, `remat` and `matmul_forms`.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

ARCHS = ("slow", "r2plus1d", "s3dg")


def build_other(model_cfg: ml_collections.ConfigDict, **overrides) -> nn.Module:
    """The R(2+1)D or S3D-G backbone a config describes; `overrides` as for build_backbone."""
    from rhovid.models.r2plus1d import R2Plus1D
    from rhovid.models.s3dg import S3DG

    arch = model_cfg.arch
    kw = dict(
        width=model_cfg.width,
        dtype=jnp.dtype(model_cfg.dtype),
        remat=model_cfg.remat,
        matmul_forms=model_cfg.get("matmul_forms", "auto"),
        bn_group_size=model_cfg.bn_group_size,
        bn_momentum=model_cfg.bn_momentum,
    )
    kw.update({k: v for k, v in overrides.items() if k != "fold_temporal"})
    if arch == "r2plus1d":
        return R2Plus1D(depth=overrides.get("depth", model_cfg.depth), **{k: v for k, v in kw.items() if k != "depth"})
    if arch == "s3dg":
        return S3DG(**{k: v for k, v in kw.items() if k != "depth"})
    raise ValueError(f"model.arch={arch!r} is not one of {', '.join(ARCHS)}.")
