"""Every protocol end to end on a tiny prepared dataset, from a pretrained checkpoint directory.

The dataset (written with tests/dataset_fixtures.py in rhovid's records format) has three classes
whose videos differ by their base colour (plus per-video offsets and per-pixel noise), so even a
random backbone's pooled features separate the classes: kNN and the fast probe must reach ~100 %
on unseen videos. The pretrained "run" is the tiny preset's backbone (depth 14, width 8) written in the workdir layout.
Views and batches are chosen so that bank and test feature batches have one shape (one compile).
"""

import functools
import importlib.util
import json
import os

import dataset_fixtures
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from rhovid import checkpoint, presets, run_config, sharding
from rhovid import config as config_lib
from rhovid.eval import finetune, knn, linear
from rhovid.models.resnet3d import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLORS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])


def _videos(n, seed, num_frames=12):
    rng = np.random.default_rng(seed)
    out = []
    for v in range(n):
        label = v % 3
        base = COLORS[label] + rng.integers(-30, 30, 3)
        frames = base + rng.integers(-20, 20, (num_frames, 40, 48, 3))
        out.append(
            dataset_fixtures.example(np.clip(frames, 0, 255).astype(np.uint8), video_id=f"v{seed}_{v}", label=label)
        )
    return out


def _he_init(model):
    """He-normal kernels, BN scale 1 / shift 0, mean 0 / var 1: an untrained backbone, no compile."""
    shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros((1, 4, 32, 32, 3)))
    rng = np.random.default_rng(0)
    flat = traverse_util.flatten_dict(shapes)
    fill = {"kernel": lambda s: rng.normal(size=s) * np.sqrt(2.0 / np.prod(s[:-1])), "scale": np.ones, "var": np.ones}
    return traverse_util.unflatten_dict(
        {k: fill.get(k[-1], np.zeros)(v.shape).astype(np.float32) for k, v in flat.items()}
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data_dir = str(root / "tfds")
    names = [f"class{c}" for c in range(3)]
    dataset_fixtures.write_dataset(
        data_dir, "colors", {"train": _videos(24, 0), "validation": _videos(12, 1)}, num_shards=2, class_names=names
    )
    for split in (1, 2):
        dataset_fixtures.write_dataset(
            data_dir,
            f"colors_split{split}",
            {"train": _videos(16, 10 + split), "test": _videos(8, 20 + split)},
            class_names=names,
        )
    cfg = presets.apply(config_lib.base_config("moco"), "tiny")
    variables = _he_init(build_backbone(cfg.model))
    checkpoint.write_imported(
        str(root / "pretrain"), cfg, {"backbone": variables["params"]}, {"backbone": variables["batch_stats"]}, step=3
    )
    return dict(root=root, data_dir=data_dir, pretrained=str(root / "pretrain"))


def eval_config(name, arg, ws, **overrides):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", "eval", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(arg)
    with c.unlocked():
        c.pretrained = ws["pretrained"]
        c.data.name, c.data.data_dir = "colors", ws["data_dir"]
        c.data.num_test_clips, c.data.num_test_crops = 2, 1  # 8 videos × 2 views = 16 clips
        c.eval.batch_size = 8
        c.eval.tsne_points = 40
        for key, value in overrides.items():
            target = c
            *parents, leaf = key.split(".")
            for p in parents:
                target = target[p]
            target[leaf] = value
    return c


def test_knn_end_to_end(workspace):
    config = eval_config("knn", "tiny", workspace, **{"eval.k": 5, "eval.train_clips": 2})
    workdir = str(workspace["root"] / "knn")
    record = knn.run(config, workdir)
    saved = json.load(open(os.path.join(workdir, "results.json")))
    assert saved["metrics"]["num_examples"] == 12
    assert saved["metrics"]["top1"] >= 0.9, saved["metrics"]
    assert saved["eval"]["bank_size"] == 24
    assert saved["pretrained"]["step"] == 3 and saved["pretrained"]["method"] == "moco"
    assert set(saved["per_class_accuracy"]) == {"class0", "class1", "class2"}
    assert os.path.exists(os.path.join(workdir, "tsne.png"))
    assert record["metrics"] == saved["metrics"]


def test_fast_probe_end_to_end(workspace):
    config = eval_config("linear", "fast,tiny", workspace, **{"eval.train_clips": 2, "eval.l2_grid": (1e-3, 1e-1)})
    record = linear.run(config, str(workspace["root"] / "fast"))
    assert record["protocol"] == "linear_fast"
    assert record["metrics"]["top1"] >= 0.9, record["metrics"]
    assert record["eval"]["l2"] in (1e-3, 1e-1) and record["eval"]["num_train"] == 24


def test_paper_linear_probe_end_to_end_and_resume(workspace):
    config = eval_config(
        "linear", "tiny,steps=4", workspace, **{"batch_size": 8, "checkpoint_every_steps": 2, "optim.base_lr": 64.0}
    )
    workdir = str(workspace["root"] / "linear")
    record = linear.run(config, workdir)
    assert record["protocol"] == "linear" and record["eval"]["steps"] == 4
    assert 0.0 <= record["metrics"]["top1"] <= 1.0
    assert record["metrics"]["num_examples"] == 12
    lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [l["step"] for l in lines] == [1, 2, 3, 4]
    # A second run in the same workdir resumes at the last step: no training step runs again.
    again = linear.run(config, workdir)
    assert again["metrics"]["top1"] == record["metrics"]["top1"]
    assert len(open(os.path.join(workdir, "metrics.jsonl")).readlines()) == 4


def test_finetune_two_splits_end_to_end(workspace):
    config = eval_config("finetune", "splits=1+2,tiny,steps=2", workspace, **{"batch_size": 8, "eval.tsne_points": 16})
    with config.unlocked():
        config.data.name = "colors"  # -> colors_split1, colors_split2
    workdir = str(workspace["root"] / "finetune")
    record = finetune.run(config, workdir)
    assert record["splits"] == [1, 2] and set(record["per_split"]) == {"1", "2"}
    per = [json.load(open(os.path.join(workdir, f"split_{s}", "results.json"))) for s in (1, 2)]
    assert [p["dataset"] for p in per] == ["colors_split1", "colors_split2"]
    tops = [p["metrics"]["top1"] for p in per]
    assert record["metrics"]["top1"] == pytest.approx(np.mean(tops))
    assert record["metrics"]["top1_std"] == pytest.approx(np.std(tops))


def test_resume_refuses_a_different_evaluation(workspace, tmp_path):
    """A workdir holding a linear probe at lr 64 refuses the same probe at lr 1 (the shared guard)."""
    first = eval_config("linear", "tiny,steps=4", workspace, **{"batch_size": 8, "optim.base_lr": 64.0})
    run_config.save_config(first, str(tmp_path))
    config = eval_config("linear", "tiny,steps=4", workspace, **{"batch_size": 8, "optim.base_lr": 1.0})
    with pytest.raises(ValueError, match=r"optim\.base_lr.*64\.0.*1\.0"):
        linear.run(config, str(tmp_path))


def test_online_knn_monitor(workspace):
    config = eval_config("knn", "tiny", workspace)
    pre = checkpoint.load_pretrained(workspace["pretrained"])
    model = build_backbone(pre.config.model)
    mesh = sharding.make_mesh()
    variables = jax.device_put({"params": pre.params, "batch_stats": pre.batch_stats}, sharding.replicated(mesh))
    out = knn.knn_monitor(model.apply, variables, config.data, mesh=mesh, batch_size=16, k=5, max_train_videos=20)
    assert set(out) == {"knn/top1", "knn/top5", "knn/bank_size"}
    assert out["knn/bank_size"] == 20
    assert out["knn/top1"] >= 0.9 and out["knn/top5"] == 1.0
