"""`rhovid.embed.load` reads every kind of workdir the converter writes.

Kinds: a PySlowFast ρBYOL checkpoint with its heads, the same with `--backbone_only` and no saved
PySlowFast config (method unknown: the case that raised "Unknown method ''"), and a supervised
pytorchvideo Slow R-50 (backbone + classifier). A training workdir is covered in tests/test_embed.py.
The state dicts are NumPy (tests/test_convert.py's builders), written through the converter's own
`convert_state` + `checkpoint.write_imported`, i.e. `tools.convert` without `torch.load`; the
last test runs the real command on a torch file and skips without torch.

Reference: the loaded weights equal the source tensors (tensor by tensor), and the pytorchvideo
workdir, exported from the very weights of the PySlowFast one, embeds a clip identically.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from flax import traverse_util
from test_convert import BYOL_CFG, slowfast_byol

from rhovid import checkpoint, embed
from rhovid.tools import convert, torch_layout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(imp, workdir):
    v = imp.result.variables
    checkpoint.write_imported(str(workdir), imp.config, v["params"], v.get("batch_stats", {}))
    return str(workdir)


def _backbone(variables):
    return {c: traverse_util.flatten_dict(variables[c]["backbone"]) for c in ("params", "batch_stats")}


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("imports")
    state = slowfast_byol(np.random.default_rng(0))
    with_heads = convert.convert_state(state, source="pyslowfast", cfg_text=BYOL_CFG)
    bare = convert.convert_state(state, source="pyslowfast", backbone_only=True)
    # A supervised pytorchvideo checkpoint of the same backbone: export it with a classifier.
    v = with_heads.result.variables
    rng = np.random.default_rng(1)
    features = 32 * 8  # res5 channels of a width-8 R-50
    classifier = {"kernel": rng.normal(0, 0.1, (features, 5)).astype(np.float32), "bias": np.zeros(5, np.float32)}
    exported = torch_layout.export_state_dict(
        {"params": {"backbone": v["params"]["backbone"], "classifier": classifier},
         "batch_stats": {"backbone": v["batch_stats"]["backbone"]}},
        layout="pytorchvideo",
    )  # fmt: skip
    supervised = convert.convert_state(exported, source="pytorchvideo")
    return {
        "reference": _backbone(v),
        "pyslowfast": (with_heads, _write(with_heads, root / "pyslowfast")),
        "backbone_only": (bare, _write(bare, root / "backbone_only")),
        "pytorchvideo": (supervised, _write(supervised, root / "pytorchvideo")),
    }


@pytest.mark.parametrize("kind, method", [("pyslowfast", "byol"), ("backbone_only", "unknown"),
                                          ("pytorchvideo", "supervised")])  # fmt: skip
def test_load_every_converted_kind(workdirs, kind, method):
    imp, workdir = workdirs[kind]
    assert imp.config.method == method  # never "": every reader of config.method knows the value
    loaded = embed.load(workdir)
    assert (loaded.model.depth, loaded.model.width) == (50, 8) and loaded.num_features == 256
    got = {c: traverse_util.flatten_dict(loaded.variables[c]) for c in ("params", "batch_stats")}
    for c, ref in workdirs["reference"].items():
        assert got[c].keys() == ref.keys()
        for key, value in ref.items():
            np.testing.assert_array_equal(np.asarray(got[c][key]), value, err_msg=f"{kind} {c} {key}")


def test_round_trip_embeds_identically(workdirs):
    clip = np.random.default_rng(2).integers(0, 256, (1, 8, 32, 32, 3), dtype=np.uint8)
    a = embed.load(workdirs["backbone_only"][1]).embed_clips(clip)
    b = embed.load(workdirs["pytorchvideo"][1]).embed_clips(clip)
    assert a.shape == (1, 256) and np.all(np.isfinite(a)) and np.std(a) > 0
    np.testing.assert_array_equal(a, b)


@pytest.mark.torch
def test_converter_command_output_loads(workdirs, tmp_path):
    pytest.importorskip("torch")
    imp, _ = workdirs["pytorchvideo"]
    state = torch_layout.export_state_dict(imp.result.variables, layout="pytorchvideo")
    path = str(tmp_path / "slow_r50.pyth")
    convert.save_torch_state_dict(state, path)
    out = str(tmp_path / "imported")
    env = {**os.environ, "PYTHONPATH": ROOT}
    args = ["--from=pytorchvideo", f"--checkpoint={path}", f"--out={out}", "--backbone_only"]
    proc = subprocess.run([sys.executable, "-m", "rhovid.tools.convert", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert embed.load(out).num_features == 256
