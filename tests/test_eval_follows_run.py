"""The public evaluation path follows its run: `--config=configs/eval/knn.py:demo --config.pretrained=RUN`.

A demo-like pretrained run (the tiny backbone, 4 frames × stride 2 at 32², trained on a small
prepared dataset "colors" whose three classes differ by colour) is evaluated through
`python -m rhovid.main` with nothing but `--config.pretrained`: clips and dataset must come from
the run's config.json, an explicit `--config.data.*` must win, and `rhovid.eval.report RUN` must read
the run's own (demo) results.json and the evaluations below it as one row.
"""

import json
import os
import subprocess
import sys

import dataset_fixtures
import numpy as np
import pytest
from test_eval_end_to_end import _he_init, _videos

from rhovid import checkpoint, presets
from rhovid import config as config_lib
from rhovid.eval import inherit
from rhovid.models.resnet3d import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.subprocess


def _run(*args):
    env = {k: v for k, v in os.environ.items() if k != "RHOVID_DEBUG"}
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("follows")
    data_dir = str(root / "tfds")
    dataset_fixtures.write_dataset(data_dir, "colors", {"train": _videos(24, 0), "validation": _videos(12, 1)},
                                   class_names=[f"class{c}" for c in range(3)])  # fmt: skip
    cfg = presets.apply(config_lib.base_config("moco"), "tiny")
    with cfg.unlocked():
        cfg.data.name, cfg.data.data_dir = "colors", data_dir
        cfg.data.target_fps = 15.0  # differs from the eval configs' 30: must be inherited too
    variables = _he_init(build_backbone(cfg.model))
    run = root / "run"
    checkpoint.write_imported(str(run), cfg, {"backbone": variables["params"]},
                              {"backbone": variables["batch_stats"]}, step=3)  # fmt: skip
    # What the demo task writes next to its checkpoints (rhovid.demo.run).
    demo_row = {"method": "moco", "rho": 2, "steps": 3, "seconds": 1.0,
                "ssl": {"digit": {"linear": 45.0, "knn": 40.0}, "motion": {"linear": 90.0, "knn": 85.5}},
                "random": {"digit": {"linear": 20.0, "knn": 18.0}, "motion": {"linear": 44.0, "knn": 4.0}}}  # fmt: skip
    (run / "results.json").write_text(json.dumps(demo_row))
    return run


def test_inherit_respects_explicit_keys(run_dir):
    """Unit level: only keys not set explicitly are taken; values are the run's."""
    c = _knn_config()
    with c.unlocked():
        c.pretrained = str(run_dir)
    taken = inherit.inherit_from_pretrained(c, explicit={"data.crop_size"})
    assert c.data.num_frames == 4 and c.data.frame_stride == 2 and c.data.target_fps == 15.0
    assert c.data.name == "colors" and c.data.eval_split == "validation"
    assert c.data.crop_size == 224 and "data.crop_size" not in taken  # explicit: the eval config's
    assert taken["data.num_frames"] == (8, 4)


def _knn_config():
    import importlib.util

    spec = importlib.util.spec_from_file_location("knn_cfg", os.path.join(ROOT, "configs", "eval", "knn.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config("demo")


def test_knn_and_linear_follow_the_run_and_report_reads_it(run_dir):
    knn = _run("rhovid.main", "--config=configs/eval/knn.py:demo", f"--config.pretrained={run_dir}",
               f"--workdir={run_dir / 'knn'}")  # fmt: skip
    assert knn.returncode == 0, knn.stderr[-4000:]
    assert "From the pretrained run" in knn.stderr and "num_frames=4" in knn.stderr
    # Quiet logs: no read-only notices from the checkpoint load, no TPU probe, no native start-up lines.
    for noise in ("read only", "read_only", "Unable to initialize backend", "oneDNN", "absl::InitializeLog"):
        assert noise not in knn.stderr, noise
    record = json.loads((run_dir / "knn" / "results.json").read_text())
    data = record["eval"]["config"]["data"]
    assert (data["num_frames"], data["frame_stride"], data["target_fps"], data["crop_size"]) == (4, 2, 15.0, 32)
    assert record["dataset"] == "colors" and record["views"] == {"clips": 2, "crops": 1}
    assert record["metrics"]["num_examples"] == 12

    # An explicit override wins over the run's value.
    linear = _run("rhovid.main", "--config=configs/eval/linear.py:demo", f"--config.pretrained={run_dir}",
                  "--config.data.num_test_clips=1", "--config.eval.l2_grid=(0.001, 0.1)",
                  "--config.data.eval_short_side=64", f"--workdir={run_dir / 'linear'}")  # fmt: skip
    assert linear.returncode == 0, linear.stderr[-4000:]
    assert f"Fast probe (label, {run_dir})" in linear.stderr  # the probe's log line says what it probes
    record = json.loads((run_dir / "linear" / "results.json").read_text())
    assert record["protocol"] == "linear_fast" and record["eval"]["config"]["data"]["eval_short_side"] == 64
    # Three colours, well apart: the probe separates them on unseen videos (chance: 1/3).
    assert record["metrics"]["top1"] >= 0.9, record["metrics"]

    report = _run("rhovid.eval.report", str(run_dir))
    assert report.returncode == 0, report.stderr[-3000:]
    rows = [line for line in report.stdout.splitlines() if line.startswith("| ρMoCo")]
    assert len(rows) == 1, report.stdout  # demo table and both evaluations: one pretrained model
    assert "demo motion linear: 90.0 (random init 44.0)" in rows[0]
    assert "knn colors: " in rows[0] and "linear_fast colors: " in rows[0]
    assert np.isfinite(json.loads((run_dir / "knn" / "results.json").read_text())["metrics"]["top1"])
