"""Table 5's other backbones: R(2+1)D-50 and S3D-G parameter counts, shapes, and config selection."""

from __future__ import annotations

import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rhovid import presets
from rhovid.models.r2plus1d import R2Plus1D
from rhovid.models.resnet3d import build_backbone
from rhovid.models.s3dg import MIXED, S3DG


def _count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _param_shapes(model, frames=8, size=64):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, frames, size, size, 3))))["params"]


def _pytorchvideo_r2plus1d():
    """pytorchvideo's create_r2plus1d; torchvision (only its RoIAlign is imported) stood in if absent."""
    pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or built for another torch
        tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.RoIAlign = object
        tv.ops = ops
        saved = {k: sys.modules.pop(k, None) for k in ("torchvision", "torchvision.ops")}
        sys.modules.update({"torchvision": tv, "torchvision.ops": ops})
        try:
            return pytest.importorskip("pytorchvideo.models.r2plus1d").create_r2plus1d
        finally:
            for k, v in saved.items():
                sys.modules.pop(k, None)
                if v is not None:
                    sys.modules[k] = v
    return pytest.importorskip("pytorchvideo.models.r2plus1d").create_r2plus1d


def test_r2plus1d_50_parameter_count_without_torch():
    # pytorchvideo 0.1.5's create_r2plus1d(model_depth=50) without its head has 27,288,000
    # parameters (the next test compares the two directly where torch is installed).
    assert _count(_param_shapes(R2Plus1D(depth=50))) == 27_288_000


def test_r2plus1d_50_parameter_count_matches_pytorchvideo():
    create_r2plus1d = _pytorchvideo_r2plus1d()
    net = create_r2plus1d(model_depth=50)
    backbone = sum(p.numel() for block in net.blocks[:-1] for p in block.parameters())  # without the head
    ours = _count(_param_shapes(R2Plus1D(depth=50)))
    assert ours == backbone, (ours, backbone)
    # Stage by stage too: the stem and each res stage.
    for i, block in enumerate(net.blocks[1:-1]):
        theirs = sum(p.numel() for p in block.parameters())
        mine = sum(_count(v) for k, v in _param_shapes(R2Plus1D(depth=50)).items() if k.startswith(f"res{i + 2}_"))
        assert mine == theirs, (i, mine, theirs)


def _s3d_hand_count(gated: bool) -> int:
    """Conv kernels kt·kh·kw·C_in·C_out, BN 2C, gates C² + C (Inception-v1 channels, 7-frame conv1)."""

    def unit(ci, co, kt=1, k=1):
        return kt * k * k * ci * co + 2 * co

    def sep(ci, co, k):
        return unit(ci, co, 1, k) + unit(co, co, k, 1)

    n = sep(3, 64, 7) + unit(64, 64) + sep(64, 192, 3) + (192 * 192 + 192 if gated else 0)
    ci = 192
    for c0, c1r, c1, c2r, c2, c3 in MIXED.values():
        n += unit(ci, c0) + unit(ci, c1r) + sep(c1r, c1, 3) + unit(ci, c2r) + sep(c2r, c2, 3) + unit(ci, c3)
        n += sum(c * c + c for c in (c0, c1, c2, c3)) if gated else 0
        ci = c0 + c1 + c2 + c3
    assert ci == 1024
    return n


def test_s3dg_parameter_count_by_hand_and_against_torchvision_s3d():
    params = _param_shapes(S3DG())
    assert _count(params) == _s3d_hand_count(gated=True) == 9_135_056
    gates = _count([v for k, v in jax.tree_util.tree_flatten_with_path(params)[0] if "gate" in jax.tree_util.keystr(k)])
    # Without its gates, plus a 1024 -> 400 classifier, S3D-G is torchvision's S3D, whose published
    # parameter count (S3D_Weights.KINETICS400_V1) is 8,320,048.
    assert _count(params) - gates + 1024 * 400 + 400 == _s3d_hand_count(gated=False) + 410_000 == 8_320_048


@pytest.mark.parametrize("arch, features", [("r2plus1d", 256), ("s3dg", 128)])
def test_forward_shape_at_tiny_size_and_selection_by_config(arch, features):
    c = presets.build_config("moco", f"tiny,arch={arch}")
    if arch == "r2plus1d":
        c.model.depth = 14  # one block per stage: the fast test size
    model = build_backbone(c.model)
    assert type(model) is {"r2plus1d": R2Plus1D, "s3dg": S3DG}[arch] and model.num_features == features
    x = jax.random.normal(jax.random.key(1), (2, 4, 32, 32, 3))
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)
    y, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
    assert y.shape == (2, features) and bool(jnp.all(jnp.isfinite(y)))
    assert set(updates["batch_stats"]) == set(variables["batch_stats"])


@pytest.mark.parametrize("method", ["simclr", "moco", "byol", "swav"])
def test_every_method_builds_its_network_on_the_new_backbones(method):
    from rhovid.models.network import build_network

    for arch, features in (("r2plus1d", 256), ("s3dg", 128)):
        c = presets.build_config(method, f"tiny,arch={arch}")
        c.model.depth = 14 if arch == "r2plus1d" else c.model.depth
        net = build_network(c)
        out = jax.eval_shape(
            lambda net=net: net.apply(
                net.init(jax.random.key(0), jnp.zeros((2, 4, 32, 32, 3)), train=False),
                jnp.zeros((2, 4, 32, 32, 3)),
                train=False,
            )
        )
        assert out["features"].shape == (2, features) and out["embedding"].shape == (2, c.model.embed_dim)
