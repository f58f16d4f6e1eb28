"""The demo end to end on a small build of the demo dataset: a results table with finite numbers."""

import json
import math

from rhovid import config as config_lib
from rhovid import demo
from rhovid.data.builders import demo as demo_data

SIZES = dict(num_train=60, num_test=30, num_frames=16)


def test_demo_produces_the_results_table(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    demo_data.ensure_demo_dataset(data_dir, **SIZES)
    c = config_lib.apply_presets(config_lib.base_config("simclr"), "demo,steps=3")
    with c.unlocked():
        c.data.name = demo_data.dataset_name(**SIZES)
        c.data.data_dir = data_dir
        c.batch_size = 16
        c.knn.every_steps = 3  # the online kNN monitor runs too (train bank, test queries)
        c.knn.k = 5
        c.eval.knn_k = 5
    row = demo.run(c, str(tmp_path / "run"))
    saved = json.load(open(tmp_path / "run" / "results.json"))
    assert saved["steps"] == 3 and saved["method"] == "simclr"
    for which in ("ssl", "random"):
        for label in ("digit", "motion"):
            for probe in ("linear", "knn"):
                assert math.isfinite(saved[which][label][probe]) and 0 <= saved[which][label][probe] <= 100
    table = (tmp_path / "run" / "results.md").read_text()
    assert "random init" in table and "ρsimclr" in table
    assert table in capsys.readouterr().out
    assert row["ssl"] == saved["ssl"]
    knn_rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl") if "knn/top1" in line]
    assert knn_rows and 0.0 <= knn_rows[0]["knn/top1"] <= 1.0
