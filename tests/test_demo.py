"""The demo end to end on a small build of the demo dataset: the command as a user runs it, twice."""

import json
import math
import os
import subprocess
import sys

from rhovid import config as config_lib
from rhovid import presets
from rhovid.data.preparation.builders import demo as demo_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = dict(num_train=60, num_test=30, num_frames=16)


def test_the_demo_command_twice_gives_the_same_results(tmp_path):
    """`python -m rhovid.main --config=configs/mocov.py:demo` run twice (here 6 steps on a small
    build): a finite results table, and the same results.json both times except `seconds`, the
    wall time. ρMoCo has every source of state there is: the queue, the momentum encoder, the
    online kNN monitor (every 3 steps) and a checkpoint in the middle of the run."""
    data_dir = str(tmp_path / "data")
    demo_data.ensure_demo_dataset(data_dir, **SIZES)
    env = {k: v for k, v in os.environ.items() if k != "RHOVID_DEBUG"}
    env["PYTHONPATH"] = ROOT
    procs = []
    for run in ("first", "second"):  # concurrently: compilation is mostly single-threaded
        args = [sys.executable, "-m", "rhovid.main", "--config=configs/mocov.py:demo,steps=6",
                f"--config.data.name={demo_data.dataset_name(**SIZES)}", f"--config.data.data_dir={data_dir}",
                "--config.batch_size=16", "--config.knn.every_steps=3", "--config.knn.k=5",
                "--config.eval.knn_k=5", "--config.checkpoint_every_steps=4",
                f"--workdir={tmp_path / run}"]  # fmt: skip
        procs.append(
            subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    first, second = (json.load(open(tmp_path / run / "results.json")) for run in ("first", "second"))
    assert first["steps"] == 6 and first["method"] == "moco" and first["rho"] == 2
    for which in ("ssl", "random"):
        for label in ("digit", "motion"):
            for probe in ("linear", "knn"):
                assert math.isfinite(first[which][label][probe]) and 0 <= first[which][label][probe] <= 100
    first.pop("seconds"), second.pop("seconds")
    assert first == second  # bit for bit: the same batches, steps, features and probes
    table = (tmp_path / "first" / "results.md").read_text()
    assert "random init" in table and "ρmoco" in table
    assert table in outputs[0]  # the command prints its table
    knn_rows = [json.loads(line) for line in open(tmp_path / "first" / "metrics.jsonl") if "knn/top1" in line]
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
