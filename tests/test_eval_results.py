"""results.json / results.md, 3-split bookkeeping, and the paper-style report from fixture results."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rhovid.errors import UserError
from rhovid.eval import metrics, report, results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eval_config(name, arg):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", "eval", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def _fixture(
    path, method, rho, epochs, step, protocol, dataset, top1, *, split=None, splits=None, top1_std=None, mAP=None
):
    """A results.json written by hand in the documented schema (not by the code under test);
    with `mAP`, a multi-label record (mAP and no top-1)."""
    if mAP is not None:
        m = {"mAP": mAP, "num_examples": 100}
    else:
        m = {"top1": top1, "top5": min(1.0, top1 + 0.1), "mean_class_accuracy": top1, "num_examples": 100}
    if top1_std is not None:
        m["top1_std"] = top1_std
    record = {
        "schema": 1,
        "protocol": protocol,
        "dataset": dataset,
        "split": split,
        "splits": splits,
        "train_split": "train",
        "eval_split": "test",
        "views": {"clips": 10, "crops": 3},
        "metrics": m,
        "per_split": None,
        "per_class_accuracy": None,
        "pretrained": {
            "path": f"/runs/{method}{rho}",
            "step": step,
            "method": method,
            "rho": rho,
            "num_epochs": epochs,
            "num_steps": 0,
            "config": {},
        },
        "eval": {},
        "plots": {},
        "created": "2025-01-01T00:00:00+00:00",
    }
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump(record, f)


@pytest.fixture
def fixture_dirs(tmp_path):
    a, b = tmp_path / "byol4", tmp_path / "moco2"
    _fixture(a / "linear", "byol", 4, 200.0, 1000, "linear", "kinetics400", 0.683)
    _fixture(a / "linear_fast", "byol", 4, 200.0, 1000, "linear_fast", "kinetics400", 0.650)
    _fixture(a / "ft_ucf", "byol", 4, 200.0, 1000, "finetune", "ucf101", 0.938, splits=[1, 2, 3], top1_std=0.0041)
    _fixture(a / "ft_hmdb", "byol", 4, 200.0, 1000, "finetune", "hmdb51_split1", 0.721, split=1)
    _fixture(a / "knn", "byol", 4, 200.0, 1000, "knn", "kinetics400", 0.40)
    _fixture(b / "linear_fast", "moco", 2, 100.0, 500, "linear_fast", "kinetics400", 0.61)
    _fixture(b / "ft_ucf2", "moco", 2, 100.0, 500, "finetune", "ucf101_split2", 0.90, split=2)
    _fixture(b / "ft_ucf1", "moco", 2, 100.0, 500, "finetune", "ucf101_split1", 0.91, split=1)
    _fixture(b / "charades", "moco", 2, 100.0, 500, "finetune", "charades", None, mAP=0.335)
    return [str(a), str(b)]  # parents: the report finds the evaluations one level down


def test_report_table_from_fixtures(fixture_dirs):
    rows = report.build_rows(report.find_results(fixture_dirs))
    md = report.render_markdown(rows)
    lines = md.splitlines()
    assert lines[0] == "| method | ρ | epochs | K400 linear | UCF101 | HMDB51 | other |"
    # Paper protocol beats the fast probe; 3-split mean with std; the split is named.
    assert "| ρBYOL | 4 | 200 | 68.30 | 93.80 ± 0.41 (3 splits) | 72.10 (split 1) | knn kinetics400: 40.00 |" in lines
    # Only the fast probe: marked; split 1 preferred over split 2 when no 3-split mean exists.
    # Multi-label results (no top-1) are shown with their mAP.
    assert "| ρMoCo | 2 | 100 | 61.00 (fast) | 91.00 (split 1) | – | finetune charades: 33.50 mAP |" in lines
    assert rows[0]["K400 linear top1"] == 0.683 and len(rows[0]["sources"]) == 5


def test_report_cli_writes_markdown_and_json(fixture_dirs, tmp_path):
    out = tmp_path / "table"
    proc = subprocess.run(
        [sys.executable, "-m", "rhovid.eval.report", *fixture_dirs, f"--output={out}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "| ρBYOL | 4 | 200 | 68.30 |" in proc.stdout
    assert open(f"{out}.md").read() == proc.stdout
    rows = json.load(open(f"{out}.json"))
    assert [r["method"] for r in rows] == ["ρBYOL", "ρMoCo"]


def test_report_names_a_directory_without_results(tmp_path):
    with pytest.raises(UserError, match=str(tmp_path)):
        report.find_results([str(tmp_path)])


def _split_record(config, top1s_per_class):
    """A per-split record whose metrics come from hand-made scores: 4 test videos, 2 classes."""
    labels = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])  # 3 of 4 right
    if top1s_per_class == "all":
        scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])  # 4 of 4
    return results.make_record(
        config, None, protocol="finetune", metrics=metrics.classification_metrics(scores, labels), split=1
    )


def test_three_split_bookkeeping(tmp_path):
    config = eval_config("finetune", "ucf101,splits=all")
    recs = {1: _split_record(config, "some"), 2: _split_record(config, "all"), 3: _split_record(config, "some")}
    combined = results.combine_splits(str(tmp_path), config, None, recs, protocol="finetune")
    top1 = [0.75, 1.0, 0.75]
    assert combined["metrics"]["top1"] == pytest.approx(np.mean(top1))
    assert combined["metrics"]["top1_std"] == pytest.approx(np.sqrt(np.mean((np.array(top1) - 5 / 6) ** 2)))
    assert combined["splits"] == [1, 2, 3] and combined["split"] is None
    assert set(combined["per_split"]) == {"1", "2", "3"}
    assert combined["per_split"]["2"]["top1"] == 1.0
    saved = json.load(open(tmp_path / "results.json"))
    assert saved["metrics"]["top1"] == pytest.approx(5 / 6)
    md = open(tmp_path / "results.md").read()
    assert "| top1 | 83.33 % ± 11.79 |" in md and "mean of 1, 2, 3" in md
    assert report.format_cell(saved) == "83.33 ± 11.79 (3 splits)"
    # Two classes: top-5 is always 100 %, so it is neither recorded nor printed.
    assert "top5" not in saved["metrics"] and "top-5" not in md and "top5" not in md
    # The same numbers reach TensorBoard (step 0: a random-init record).
    events = [
        e
        for f in tf.io.gfile.glob(str(tmp_path / "events.out.tfevents.*"))
        for e in tf.compat.v1.train.summary_iterator(f)
    ]
    scalars = {v.tag: float(tf.make_ndarray(v.tensor)) for e in events for v in e.summary.value}
    assert scalars["eval/finetune/top1"] == pytest.approx(5 / 6)


def test_finish_evaluation_writes_json_markdown_and_plots(tmp_path):
    config = eval_config("knn", "tiny")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)  # 30 test videos, 3 classes
    scores = np.eye(3)[labels] * 0.5 + rng.uniform(0, 0.6, (30, 3))
    feats = np.eye(3)[labels] * 3 + rng.normal(size=(30, 3))
    rec = results.finish_evaluation(
        str(tmp_path),
        config,
        None,
        protocol="knn",
        scores=scores,
        labels=labels,
        test_features=feats,
        num_classes=3,
        class_names=["a", "b", "c"],
    )
    want_top1 = np.mean(scores.argmax(1) == labels)
    saved = json.load(open(tmp_path / "results.json"))
    assert saved["metrics"]["top1"] == pytest.approx(want_top1)
    assert saved["views"] == {"clips": 10, "crops": 3} and saved["protocol"] == "knn"
    assert saved["pretrained"]["method"] == "random init"
    per_class = {c: np.mean(scores.argmax(1)[labels == i] == i) for i, c in enumerate("abc")}
    assert saved["per_class_accuracy"] == pytest.approx(per_class)
    for png in ("confusion.png", "tsne.png"):
        assert open(tmp_path / png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert rec["plots"] == {"confusion": "confusion.png", "tsne": "tsne.png"}
    assert "![tsne](tsne.png)" in open(tmp_path / "results.md").read()
