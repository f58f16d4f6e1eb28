"""The demo end to end on a small build of the demo dataset: a results table with finite numbers."""

import json
import math

from rhovid import config as config_lib
from rhovid import demo, presets
from rhovid.data.preparation.builders import demo as demo_data

SIZES = dict(num_train=60, num_test=30, num_frames=16)


def test_demo_produces_the_results_table(tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    demo_data.ensure_demo_dataset(data_dir, **SIZES)
    c = presets.apply(config_lib.base_config("simclr"), "demo,steps=3")
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


def test_moco_demo_state_builds_for_any_rho():
    """`configs/mocov.py:demo,rho=N` builds for every ρ, in either preset order: the queue is a ring
    buffer, so 512 keys need not be a whole number of steps (ρ = 3: 64 videos × 3 keys a step)."""
    import jax

    from rhovid.data.reading.sources import num_views
    from rhovid.methods import build_objective

    for arg in ("demo,rho=1", "demo,rho=2", "demo,rho=3", "rho=3,demo", "demo,rho=4", "demo,rho=5"):
        c = presets.apply(config_lib.base_config("moco"), arg)
        views = num_views(c.data)
        assert c.data.rho == int(arg.split("rho=")[1].split(",")[0]) and c.task == "demo"
        state = build_objective(c).init_state(jax.random.key(0), c.model.embed_dim, views, c.batch_size)
        assert state["queue"].shape == (c.objective.queue_size, c.model.embed_dim), arg
