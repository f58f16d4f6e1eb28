"""PyTorch interop (`rhovid.tools.convert`): PySlowFast / pytorchvideo checkpoints in, pytorchvideo out.

Without torch: the PySlowFast key layout on a state dict written here from the architecture
(docs/method.md §2 and PySlowFast's resnet_helper / head_helper names), mismatches named precisely, the
imported directory accepted by the evaluation loader, and no torch import by rhovid.

With torch and pytorchvideo (`bash .ci/install_torch.sh`): pytorchvideo's own `slow_r50` with random
weights and random BN statistics against rhovid's forward pass (features and logits), exact round
trips in both directions, PySlowFast heads against PyTorch modules, and unsafe or truncated files
refused.
"""

import functools
import os
import re
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags
from flax import traverse_util

from rhovid import checkpoint, sharding
from rhovid.errors import UserError
from rhovid.eval import features
from rhovid.models.heads import MLP
from rhovid.models.resnet3d import ResNet3D
from rhovid.tools import convert
from rhovid.tools.torch_layout import ConversionError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BYOL_CFG = """CONTRASTIVE:
  TYPE: byol
DATA:
  NUM_FRAMES: 8
  SAMPLING_RATE: 8
  TRAIN_CROP_SIZE: 224
  TRAIN_CROP_NUM_TEMPORAL: 2
SOLVER:
  MAX_EPOCH: 200
"""


def flat(tree):
    return traverse_util.flatten_dict(features._as_dict(tree), sep="/")


# ---------------------------------------------------------------------------------------------
# A PySlowFast ContrastiveModel state dict, written from the architecture (no torch needed).


def _bn(sd, name, c, rng):
    sd[name + ".weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[name + ".bias"] = rng.normal(0, 0.1, c).astype(np.float32)
    sd[name + ".running_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
    sd[name + ".running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[name + ".num_batches_tracked"] = np.array(7, np.int64)


def _linear(sd, name, n_out, n_in, rng, bias=True):
    sd[name + ".weight"] = rng.normal(0, 0.1, (n_out, n_in)).astype(np.float32)
    if bias:
        sd[name + ".bias"] = rng.normal(0, 0.1, n_out).astype(np.float32)


def slowfast_backbone(rng, width=8, prefix="backbone."):
    """Slow R-50 (`MODEL.ARCH: slow`) in PySlowFast's names: s1 stem, s2..s5 bottleneck stages."""
    sd = {}
    conv = lambda name, o, i, kt, k: sd.__setitem__(
        name + ".weight", rng.normal(0, 0.1, (o, i, kt, k, k)).astype(np.float32)
    )
    conv(prefix + "s1.pathway0_stem.conv", width, 3, 1, 7)
    _bn(sd, prefix + "s1.pathway0_stem.bn", width, rng)
    dim_in = width
    for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
        inner, out = width * 2 ** (stage - 2), width * 2 ** (stage - 2) * 4
        kt = 3 if stage >= 4 else 1  # temporal kernel on conv 'a' of res4 and res5 only
        for i in range(blocks):
            b = f"{prefix}s{stage}.pathway0_res{i}."
            if i == 0:
                conv(b + "branch1", out, dim_in, 1, 1)
                _bn(sd, b + "branch1_bn", out, rng)
            conv(b + "branch2.a", inner, dim_in if i == 0 else out, kt, 1)
            _bn(sd, b + "branch2.a_bn", inner, rng)
            conv(b + "branch2.b", inner, inner, 1, 3)
            _bn(sd, b + "branch2.b_bn", inner, rng)
            conv(b + "branch2.c", out, inner, 1, 1)
            _bn(sd, b + "branch2.c_bn", out, rng)
        dim_in = out
    return sd


def slowfast_mlp(sd, name, dims, rng, bn):
    """PySlowFast's MLPHead Sequential: Linear(bias=not bn) [, BN], ReLU, ..., Linear(bias)."""
    k = 0
    for j, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = j == len(dims) - 2
        _linear(sd, f"{name}.{k}", n_out, n_in, rng, bias=last or not bn)
        if not last and bn:
            _bn(sd, f"{name}.{k + 1}", n_out, rng)
        k += 3 if bn else 2


def slowfast_byol(rng, width=8, prefix="backbone."):
    """A ρBYOL ContrastiveModel: online net + heads, momentum encoder, buffers."""
    sd = slowfast_backbone(rng, width, prefix)
    feat = 32 * width
    slowfast_mlp(sd, prefix + "head.projection.projection", (feat, 64, 32), rng, bn=True)
    slowfast_mlp(sd, prefix + "head.predictors.0.projection", (32, 64, 32), rng, bn=True)
    hist = slowfast_backbone(rng, width, "backbone_hist.")
    slowfast_mlp(hist, "backbone_hist.head.projection.projection", (feat, 64, 32), rng, bn=True)
    sd.update(hist)
    sd["queue_x"] = rng.normal(size=(16, 32)).astype(np.float32)
    sd["ptr"], sd["iter"] = np.array([0]), np.array([3])
    return sd


@pytest.fixture(scope="module")
def byol_state():
    return slowfast_byol(np.random.default_rng(0))


def test_pyslowfast_byol_layout_mapped_tensor_by_tensor(byol_state):
    sd = byol_state
    imp = convert.convert_state(sd, source="pyslowfast", cfg_text=BYOL_CFG)
    got = flat(imp.result.variables)
    t = lambda k: sd["backbone." + k].transpose(2, 3, 4, 1, 0)  # [O,I,t,h,w] -> [t,h,w,I,O]
    np.testing.assert_array_equal(got["params/backbone/stem_conv/kernel"], t("s1.pathway0_stem.conv.weight"))
    assert got["params/backbone/res4_0/conv_a/kernel"].shape == (3, 1, 1, 64, 32)
    np.testing.assert_array_equal(got["params/backbone/res4_0/conv_a/kernel"], t("s4.pathway0_res0.branch2.a.weight"))
    np.testing.assert_array_equal(got["params/backbone/res3_2/conv_b/kernel"], t("s3.pathway0_res2.branch2.b.weight"))
    np.testing.assert_array_equal(
        got["params/backbone/res2_0/shortcut_conv/kernel"], t("s2.pathway0_res0.branch1.weight")
    )
    np.testing.assert_array_equal(
        got["batch_stats/backbone/res2_0/shortcut_bn/var"], sd["backbone.s2.pathway0_res0.branch1_bn.running_var"]
    )
    np.testing.assert_array_equal(
        got["params/backbone/res5_2/bn_c/scale"], sd["backbone.s5.pathway0_res2.branch2.c_bn.weight"]
    )
    # Heads: Linear [out, in] -> [in, out]; the hidden Linear has no bias when BN follows it.
    p = "backbone.head.projection.projection."
    np.testing.assert_array_equal(got["params/projector/dense_0/kernel"], sd[p + "0.weight"].T)
    assert "params/projector/dense_0/bias" not in got
    np.testing.assert_array_equal(got["batch_stats/projector/bn_0/mean"], sd[p + "1.running_mean"])
    np.testing.assert_array_equal(got["params/projector/dense_1/bias"], sd[p + "3.bias"])
    q = "backbone.head.predictors.0.projection."
    np.testing.assert_array_equal(got["params/predictor/dense_1/kernel"], sd[q + "3.weight"].T)
    np.testing.assert_array_equal(got["params/predictor/bn_0/scale"], sd[q + "1.weight"])

    # Every online tensor is used; everything else is listed (num_batches_tracked apart).
    online = {k for k in sd if k.startswith("backbone.") and not k.endswith("num_batches_tracked")}
    assert set(imp.result.mapping.values()) == online
    assert len(imp.result.mapping) == len(online)
    assert imp.result.unused == sorted(
        [k for k in sd if k.startswith("backbone_hist.") and not k.endswith("num_batches_tracked")]
        + ["iter", "ptr", "queue_x"]
    )
    assert imp.result.ignored == sorted(k for k in sd if k.endswith("num_batches_tracked"))

    c = imp.config
    assert (c.method, c.model.depth, c.model.width) == ("byol", 50, 8)
    assert (c.model.mlp_layers, c.model.mlp_dim, c.model.embed_dim, c.model.mlp_bn) == (2, 64, 32, True)
    assert c.model.predictor_dim == 64
    assert (c.data.rho, c.data.num_frames, c.data.frame_stride, c.num_epochs) == (2, 8, 8, 200.0)

    # The plain layout (the `backbone.` prefix cleared, as PySlowFast does for evaluation).
    plain = {k.removeprefix("backbone."): v for k, v in sd.items()}
    imp2 = convert.convert_state(plain, cfg_text=BYOL_CFG)
    got2 = flat(imp2.result.variables)
    assert got2.keys() == got.keys()
    assert all(np.array_equal(got[k], got2[k]) for k in got)

    # Export in that layout gives back exactly the backbone's tensors, under the same names.
    out = convert.torch_layout.export_state_dict(imp2.result.variables, "pyslowfast")
    assert out.keys() == {k for k in plain if k.startswith("s") and k[1].isdigit()}
    assert all(np.array_equal(out[k], plain[k]) for k in out if not k.endswith("num_batches_tracked"))


def test_imported_directory_is_accepted_by_the_evaluation_loader(byol_state, tmp_path):
    imp = convert.convert_state(byol_state, cfg_text=BYOL_CFG)
    v = imp.result.variables
    checkpoint.write_imported(str(tmp_path / "imp"), imp.config, v["params"], v["batch_stats"])
    import importlib.util

    spec = importlib.util.spec_from_file_location("linear", os.path.join(ROOT, "configs/eval/linear.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config("tiny")
    config.pretrained = str(tmp_path / "imp")
    backbone = features.load_backbone(config, sharding.make_mesh())  # builds R-50 w8 from config.json
    assert (backbone.model.depth, backbone.model.width) == (50, 8)
    got, want = (
        flat(backbone.variables),
        flat({"params": v["params"]["backbone"], "batch_stats": v["batch_stats"]["backbone"]}),
    )
    assert got.keys() == want.keys()
    assert all(np.array_equal(np.asarray(got[k]), want[k]) for k in want)
    pre = checkpoint.load_pretrained(str(tmp_path / "imp"))
    assert set(pre.heads) == {"projector", "predictor"}


def test_swav_and_moco_heads_are_recognised():
    rng = np.random.default_rng(1)
    swav = slowfast_backbone(rng)
    slowfast_mlp(swav, "backbone.head.projection.projection", (256, 64, 64, 32), rng, bn=True)
    swav["swav_prototypes.weight"] = rng.normal(size=(16, 32)).astype(np.float32)  # [K, d]
    imp = convert.convert_state(swav)
    got = flat(imp.result.variables)
    assert imp.config.method == "swav" and imp.config.model.num_prototypes == 16
    assert imp.config.model.mlp_layers == 3
    np.testing.assert_array_equal(got["params/prototypes/kernel"], swav["swav_prototypes.weight"])
    np.testing.assert_array_equal(
        got["batch_stats/projector/bn_1/var"], swav["backbone.head.projection.projection.4.running_var"]
    )

    moco = slowfast_backbone(rng)  # MoCo's MLP has no BN: Linear, ReLU, Linear, ReLU, Linear
    slowfast_mlp(moco, "backbone.head.projection.projection", (256, 64, 64, 32), rng, bn=False)
    moco.update(slowfast_backbone(rng, prefix="backbone_hist."))
    imp = convert.convert_state(moco)
    got = flat(imp.result.variables)
    assert imp.config.method == "moco" and imp.config.model.mlp_bn is False
    np.testing.assert_array_equal(
        got["params/projector/dense_1/kernel"], moco["backbone.head.projection.projection.2.weight"].T
    )
    np.testing.assert_array_equal(
        got["params/projector/dense_1/bias"], moco["backbone.head.projection.projection.2.bias"]
    )

    simclr = {k: v for k, v in moco.items() if not k.startswith("backbone_hist.")}
    with pytest.raises(ConversionError, match="--method=simclr"):
        convert.convert_state(simclr)
    assert convert.convert_state(simclr, method="simclr").config.method == "simclr"
    backbone_only = convert.convert_state(simclr, backbone_only=True)
    assert set(backbone_only.result.variables["params"]) == {"backbone"}
    assert any(k.startswith("backbone.head.") for k in backbone_only.result.unused)


def test_mismatched_checkpoints_fail_naming_the_tensor(byol_state):
    sd = dict(byol_state)
    del sd["backbone.s5.pathway0_res2.branch2.c_bn.running_var"]
    with pytest.raises(
        ConversionError,
        match=re.escape(
            "'batch_stats/backbone/res5_2/bn_c/var' (shape (256,)) has no source tensor: the "
            "checkpoint lacks 'backbone.s5.pathway0_res2.branch2.c_bn.running_var'"
        ),
    ):
        convert.convert_state(sd, cfg_text=BYOL_CFG)

    c2d = dict(byol_state)  # slow_c2d: temporal kernel 1 everywhere
    c2d["backbone.s4.pathway0_res0.branch2.a.weight"] = np.zeros((32, 64, 1, 1, 1), np.float32)
    with pytest.raises(
        ConversionError,
        match=re.escape(
            "'params/backbone/res4_0/conv_a/kernel' needs 'backbone.s4.pathway0_res0.branch2.a.weight' "
            "of shape (32, 64, 3, 1, 1), but the checkpoint's has shape (32, 64, 1, 1, 1)"
        ),
    ):
        convert.convert_state(c2d, cfg_text=BYOL_CFG)

    truncated = {k: v for k, v in byol_state.items() if ".s5." not in k}
    with pytest.raises(ConversionError, match=r"\(3, 4, 6, 0\) bottleneck blocks, which matches no"):
        convert.convert_state(truncated)

    no_predictor = {k: v for k, v in byol_state.items() if ".predictors." not in k}
    with pytest.raises(
        ConversionError,
        match=r"'params/predictor/\w+/\w+' .*has no source tensor: "
        r"the checkpoint lacks 'backbone\.head\.predictors\.0\.projection\.\d\.",
    ):
        convert.convert_state(no_predictor, cfg_text=BYOL_CFG)  # the config says BYOL

    with pytest.raises(ConversionError, match="use --from=pyslowfast"):
        convert.convert_state(byol_state, source="pytorchvideo")
    with pytest.raises(ConversionError, match="neither a PySlowFast"):
        convert.convert_state({"fc.weight": np.zeros((2, 2))})


def test_rhovid_never_imports_torch_and_says_how_to_install_it():
    code = (
        "import sys\n"
        "import rhovid.tools.convert, rhovid.tools.torch_layout, rhovid.checkpoint, rhovid.main\n"
        "import rhovid.models.network, rhovid.eval.features\n"
        "assert 'torch' not in sys.modules, 'rhovid imported torch'\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "try:\n    rhovid.tools.convert.load_torch_checkpoint('x.pyth')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "needs PyTorch: pip install -e '.[torch]'" in out.stdout


def cli(*args):
    """`python -m rhovid.tools.convert ARGS`, in process (flags on a private FlagValues)."""
    fv = flags.FlagValues()
    convert.define_flags(fv)
    fv(["convert", *args])
    convert.run(fv)


# ---------------------------------------------------------------------------------------------
# With torch and pytorchvideo.


def _pytorchvideo_resnet():
    """pytorchvideo's resnet module, importing it without torchvision if need be.

    pytorchvideo.models imports torchvision for `RoIAlign` (the detection head) only. Where
    torchvision is absent (the CPU torch wheel has no matching one), a stand-in module that
    refuses to build a RoIAlign is present during the import and removed right after.
    """
    pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or built for another torch
        ops = types.ModuleType("torchvision.ops")

        class RoIAlign:
            def __init__(self, *a, **k):
                raise RuntimeError("torchvision stand-in: RoIAlign is unavailable")

        ops.RoIAlign = RoIAlign
        tv = types.ModuleType("torchvision")
        tv.ops = ops
        saved = {k: sys.modules.pop(k, None) for k in ("torchvision", "torchvision.ops")}
        sys.modules.update({"torchvision": tv, "torchvision.ops": ops})
        try:
            return pytest.importorskip("pytorchvideo.models.resnet"), pytest.importorskip(
                "pytorchvideo.models.hub.resnet"
            )
        finally:
            for k, v in saved.items():
                sys.modules.pop(k, None)
                if v is not None:
                    sys.modules[k] = v
    return pytest.importorskip("pytorchvideo.models.resnet"), pytest.importorskip("pytorchvideo.models.hub.resnet")


def _randomize_bn(model, torch, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def slow_r50(tmp_path_factory):
    """pytorchvideo's slow_r50, random weights and BN statistics, imported through the CLI."""
    _, hub = _pytorchvideo_resnet()
    import torch

    torch.manual_seed(0)
    model = _randomize_bn(hub.slow_r50(pretrained=False), torch, seed=1)
    d = tmp_path_factory.mktemp("slow_r50")
    path = str(d / "SLOW_8x8_R50.pyth")
    torch.save({"model_state": model.state_dict()}, path)  # the layout of pytorchvideo's release
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rhovid.tools.convert",
            "--from=pytorchvideo",
            f"--checkpoint={path}",
            f"--out={d / 'imported'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "267 rhovid variables" in out.stdout and "Every source tensor was used" in out.stdout
    return types.SimpleNamespace(torch=torch, hub=hub, model=model, dir=d, path=path, workdir=str(d / "imported"))


def test_slow_r50_features_and_logits_match_pytorchvideo(slow_r50):
    torch, model = slow_r50.torch, slow_r50.model
    pre = checkpoint.load_pretrained(slow_r50.workdir)
    x = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(2))  # [N, C, T, H, W]
    with torch.no_grad():
        h = x
        for block in model.blocks[:5]:
            h = block(h)
        feat_t = h.mean(dim=(2, 3, 4))  # pooled res5, [N, 2048]
        logits_t = model.blocks[5].proj(feat_t).numpy()  # the classifier on the pooled features
        feat_t = feat_t.numpy()
    apply = jax.jit(functools.partial(ResNet3D(depth=50, width=64).apply, train=False))
    variables = {"params": pre.params, "batch_stats": pre.batch_stats}
    feat_j = np.asarray(apply(variables, jnp.asarray(x.numpy().transpose(0, 2, 3, 4, 1))))
    c = pre.heads["classifier"]
    logits_j = feat_j @ np.asarray(c["kernel"]) + np.asarray(c["bias"])
    for name, a, b in (("features", feat_j, feat_t), ("logits", logits_j, logits_t)):
        rel = np.abs(a - b).max() / np.abs(b).max()
        print(f"slow_r50 {name}: max |rhovid - pytorchvideo| / max |pytorchvideo| = {rel:.2e}")
        assert rel < 1e-4, (name, rel)


def test_export_loads_into_slow_r50_and_round_trips_exactly(slow_r50, tmp_path):
    torch = slow_r50.torch
    out = str(tmp_path / "slow_r50.pt")
    report = convert.export_checkpoint(slow_r50.workdir, out, to="pytorchvideo")
    assert report["classifier"] is True and os.path.exists(out + ".json")
    exported = torch.load(out, weights_only=True)
    fresh = slow_r50.hub.slow_r50(pretrained=False)
    fresh.load_state_dict(exported, strict=True)
    for k, v in slow_r50.model.state_dict().items():  # PyTorch -> rhovid -> PyTorch: bit-exact
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(exported[k], v), k

    # rhovid -> PyTorch -> rhovid, from random rhovid variables of a narrow R-50 (no classifier).
    cfg = convert.build_config(convert.SourceSpec("pytorchvideo", "", 50, 8), "", {}, False)
    rng = np.random.default_rng(3)
    shapes = convert.expected_shapes(cfg, with_heads=False)
    tree = traverse_util.unflatten_dict(
        {tuple(k.split("/")): rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    )
    checkpoint.write_imported(str(tmp_path / "mine"), cfg, tree["params"], tree["batch_stats"])
    cli("--from=rhovid", f"--checkpoint={tmp_path / 'mine'}", "--to=pytorchvideo", f"--out={tmp_path / 'mine.pt'}")
    resnet, _ = _pytorchvideo_resnet()
    narrow = resnet.create_resnet(
        model_depth=50, stem_dim_out=8, stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(1, 1, 1)
    )
    missing, unexpected = narrow.load_state_dict(torch.load(tmp_path / "mine.pt", weights_only=True), strict=False)
    assert sorted(missing) == ["blocks.5.proj.bias", "blocks.5.proj.weight"] and not unexpected
    back = convert.import_checkpoint(str(tmp_path / "mine.pt"), str(tmp_path / "back"))
    assert back["unused"] == [] and back["heads"] == []
    again = checkpoint.load_pretrained(str(tmp_path / "back"))
    want = flat({"params": tree["params"]["backbone"], "batch_stats": tree["batch_stats"]["backbone"]})
    got = flat({"params": again.params, "batch_stats": again.batch_stats})
    assert got.keys() == want.keys()
    assert all(np.array_equal(np.asarray(got[k]), want[k]) for k in want)


def _pyslowfast_name(key):
    """pytorchvideo name -> PySlowFast name (the renaming written out independently)."""
    key = key.replace("blocks.0.conv.", "s1.pathway0_stem.conv.").replace("blocks.0.norm.", "s1.pathway0_stem.bn.")
    m = re.match(r"blocks\.(\d)\.res_blocks\.(\d+)\.(.*)", key)
    if not m:
        return key
    rest = {"branch1_conv": "branch1", "branch1_norm": "branch1_bn"}.get(m.group(3).split(".")[0])
    rest = rest + m.group(3)[m.group(3).index(".") :] if rest else m.group(3)
    rest = re.sub(r"branch2\.conv_(\w)\.", r"branch2.\1.", rest)
    rest = re.sub(r"branch2\.norm_(\w)\.", r"branch2.\1_bn.", rest)
    return f"s{int(m.group(1)) + 1}.pathway0_res{m.group(2)}.{rest}"


def test_pyslowfast_checkpoint_with_heads_matches_pytorch(slow_r50, tmp_path):
    torch = slow_r50.torch
    nn = torch.nn
    torch.manual_seed(4)
    projection = _randomize_bn(
        nn.Sequential(nn.Linear(2048, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 32)), torch, seed=5
    )
    predictor = _randomize_bn(
        nn.Sequential(nn.Linear(32, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 32)), torch, seed=6
    )
    state = {
        "backbone." + _pyslowfast_name(k): v
        for k, v in slow_r50.model.state_dict().items()
        if not k.startswith("blocks.5.")
    }
    state.update({f"backbone.head.projection.projection.{k}": v for k, v in projection.state_dict().items()})
    state.update({f"backbone.head.predictors.0.projection.{k}": v for k, v in predictor.state_dict().items()})
    state.update({"backbone_hist." + k[len("backbone.") :]: v.clone() for k, v in list(state.items())})
    state["queue_x"] = torch.zeros(8, 32)
    path = str(tmp_path / "BYOL_SlowR50_8x8_T2_epoch_00200.pyth")
    torch.save(
        {
            "epoch": 200,
            "model_state": state,
            "cfg": BYOL_CFG,
            "optimizer_state": {"state": {0: {"momentum_buffer": torch.ones(3)}}, "param_groups": []},
        },
        path,
    )
    report = convert.import_checkpoint(path, str(tmp_path / "byol"), source="pyslowfast")
    assert report["method"] == "byol" and report["epoch"] == 200
    assert report["heads"] == ["predictor", "projector"]
    assert report["unused"] == sorted(
        k for k in state if k.startswith("backbone_hist.") and not k.endswith("num_batches_tracked")
    ) + ["queue_x"]
    got = checkpoint.load_pretrained(str(tmp_path / "byol"))
    ref = checkpoint.load_pretrained(slow_r50.workdir)  # the same backbone, pytorchvideo names
    a, b = flat({"p": got.params, "s": got.batch_stats}), flat({"p": ref.params, "s": ref.batch_stats})
    assert a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)

    x = torch.randn(4, 2048, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        z_t, p_t = projection(x), predictor(projection(x))
    # Heads: the same conversion in memory gives their BN statistics too (load_pretrained returns
    # the backbone's only); its parameters are those written to the directory.
    v = convert.convert_state({k: v.numpy() for k, v in state.items()}, cfg_text=BYOL_CFG).result.variables
    for n in ("projector", "predictor"):
        saved, fresh = flat(got.heads[n]), flat(v["params"][n])
        assert saved.keys() == fresh.keys()
        assert all(np.array_equal(np.asarray(saved[k]), fresh[k]) for k in fresh)
    heads = {n: {"params": v["params"][n], "batch_stats": v["batch_stats"][n]} for n in ("projector", "predictor")}
    mlp = lambda hidden, out: MLP((hidden,), out, use_bn=True)
    z_j = mlp(64, 32).apply(heads["projector"], jnp.asarray(x.numpy()), train=False)
    p_j = mlp(64, 32).apply(heads["predictor"], z_j, train=False)
    for a, b in ((z_j, z_t), (p_j, p_t)):
        assert np.abs(np.asarray(a) - b.numpy()).max() / np.abs(b.numpy()).max() < 1e-5


class _Payload:
    """Unpickling this runs a shell command (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_carrying_code_is_refused_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    import pickle

    marker = tmp_path / "pwned"
    zipped = str(tmp_path / "evil.pyth")  # torch.save's zip format
    torch.save({"model_state": {"blocks.0.conv.weight": torch.zeros(1)}, "x": _Payload(marker)}, zipped)
    raw = str(tmp_path / "evil_raw.pyth")  # a bare pickle, as old checkpoints are
    with open(raw, "wb") as f:
        pickle.dump({"model_state": {}, "x": _Payload(marker)}, f, protocol=2)
    for path, why in ((zipped, "posix.system"), (raw, "")):
        with pytest.raises(convert.UnsafeCheckpointError, match=f"Refused to load .*{why}"):
            convert.import_checkpoint(path, str(tmp_path / "out"))
        assert not marker.exists() and not (tmp_path / "out").exists()
    torch.load(zipped, weights_only=False)  # control: plain unpickling runs the payload
    assert marker.exists()


def test_truncated_file_fails_clearly(slow_r50, tmp_path):
    path = str(tmp_path / "cut.pyth")
    with open(slow_r50.path, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(os.path.getsize(slow_r50.path) // 2))
    with pytest.raises(UserError, match="Could not read .* truncated or corrupt"):
        cli("--from=pytorchvideo", f"--checkpoint={path}", f"--out={tmp_path / 'out'}")
    assert not (tmp_path / "out").exists()
