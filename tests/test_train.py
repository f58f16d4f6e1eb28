"""The pretraining loop end to end: every method learns, checkpoints, resumes, refuses bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from rhovid import checkpoint, presets, run_config
from rhovid import config as config_lib
from rhovid.pretrain import train as pretrain
from rhovid.writers import read_jsonl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(method, **overrides):
    c = presets.apply(config_lib.base_config(method), "tiny")
    with c.unlocked():
        c.data.num_train_videos = 16  # = batch: every step sees the same videos (fresh views)
        c.data.crop_size = 16
        c.data.num_frames = 2
        c.num_steps = 8
        c.checkpoint_every_steps = 4
        c.optim.base_lr = {"moco": 0.4, "simclr": 4.8, "byol": 4.8, "swav": 4.8}[method]
        for k, v in overrides.items():
            node = c
            *path, last = k.split(".")
            for p in path:
                node = node[p]
            node[last] = v
    return c


@pytest.mark.parametrize("method", ["simclr", "moco", "byol", "swav"])
def test_each_method_trains_and_checkpoints(method, tmp_path):
    if method == "moco":
        # MoCo's loss first rises while real keys replace the random initial queue; after that
        # (4 steps of 32 keys fill 128 slots) it must fall. More videos than a batch, so the queue
        # holds other videos' keys rather than stale copies of the positives.
        # BN as in the demo (all clips of the device in one group, no shuffle-BN): the paper's groups
        # of 8 clips of one view leave 2 videos per group at this batch of 16, too noisy for a
        # 12-step test of the loop.
        config, first = (
            _tiny(
                "moco",
                **{
                    "data.num_train_videos": 256,
                    "num_steps": 12,
                    "model.bn_group_size": -1,
                    "model.bn_mix_views": True,
                    "objective.shuffle_bn": False,
                },
            ),
            slice(4, 7),
        )
    else:
        config, first = _tiny(method), slice(0, 3)
    pretrain(config, str(tmp_path))
    losses = [r["loss"] for r in read_jsonl(str(tmp_path))]
    assert len(losses) == config.num_steps and np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[first]), losses  # it learns
    saved = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert saved == list(range(4, config.num_steps + 1, 4))
    assert json.load(open(tmp_path / "config.json"))["method"] == method


def test_bad_config_values_fail_before_training(tmp_path):
    cases = [
        ({"data.rho": 0}, "data.rho=0"),
        ({"batch_size": 12}, "batch_size=12"),
        ({"data.crop_size": 300}, "data.crop_size=300"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            pretrain(_tiny("byol", **overrides), str(tmp_path / "bad"))
        assert not (tmp_path / "bad" / "checkpoints").exists() or not os.listdir(tmp_path / "bad" / "checkpoints")


def test_unknown_config_key_fails_loudly():
    c = _tiny("byol")
    with pytest.raises(AttributeError, match="learning_rate"):
        c.optim.learning_rate = 0.1
    with pytest.raises(ValueError, match="Unknown config preset 'tiyn'"):
        presets.apply(config_lib.base_config("byol"), "tiyn")


def test_workdir_with_a_different_config_is_refused(tmp_path):
    run_config.save_config(_tiny("byol"), str(tmp_path))
    with pytest.raises(ValueError, match="method: checkpoint has 'byol', config has 'simclr'"):
        pretrain(_tiny("simclr"), str(tmp_path))


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    c = _tiny("simclr", **{"optim.base_lr": 1e30, "optim.optimizer": "sgd", "checkpoint_every_steps": 1})
    with pytest.raises(FloatingPointError, match=r"Non-finite loss .* at step (\d+)") as err:
        pretrain(c, str(tmp_path))
    bad_step = int(err.value.args[0].split("at step ")[1].split(".")[0])
    saved = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert saved and max(saved) < bad_step


def _cli(workdir, steps, extra=()):
    cmd = [
        sys.executable,
        "-m",
        "rhovid.main",
        f"--config={REPO}/configs/mocov.py:tiny",
        f"--workdir={workdir}",
        f"--config.num_steps={steps}",
        "--config.data.crop_size=16",
        "--config.data.num_frames=2",
        *extra,
    ]
    if not any("checkpoint_every_steps" in e for e in extra):
        cmd.append("--config.checkpoint_every_steps=1000")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigterm_saves_and_resume_reproduces_the_uninterrupted_run(tmp_path):
    """A real process is preempted (SIGTERM) mid-run, restarted, and ends exactly like an unbroken run."""
    steps = 40
    full, broken = tmp_path / "full", tmp_path / "broken"
    reference = _cli(full, steps)
    victim = _cli(broken, steps)
    deadline = time.time() + 500
    while time.time() < deadline:  # wait for the victim to be a few steps into training
        if (broken / "metrics.jsonl").exists() and len(read_jsonl(str(broken))) >= 3:
            break
        assert victim.poll() is None, victim.stderr.read()[-3000:]
        time.sleep(0.05)
    victim.send_signal(signal.SIGTERM)
    assert victim.wait(timeout=300) == 0
    assert "Stopped by SIGTERM at step" in victim.stderr.read()  # says so, and how to resume
    stopped_at = max(int(s) for s in os.listdir(broken / "checkpoints") if s.isdigit())
    assert 3 <= stopped_at < steps
    resumed = _cli(broken, steps)
    assert resumed.wait(timeout=500) == 0, resumed.stderr.read()[-3000:]
    assert reference.wait(timeout=500) == 0, reference.stderr.read()[-3000:]

    want = {r["step"]: r["loss"] for r in read_jsonl(str(full))}
    got = {r["step"]: r["loss"] for r in read_jsonl(str(broken))}
    assert sorted(got) == list(range(1, steps + 1))
    np.testing.assert_allclose([got[s] for s in range(1, steps + 1)], [want[s] for s in range(1, steps + 1)], rtol=1e-6)
    a, b = checkpoint.load_pretrained(str(full)), checkpoint.load_pretrained(str(broken))
    assert a.step == b.step == steps
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)


def test_sigkill_during_saves_leaves_a_restorable_workdir(tmp_path):
    """`kill -9` while checkpoints are written every step: the last complete one restores and the
    resumed run ends exactly where an unbroken run ends."""
    steps = 30
    full, broken = tmp_path / "full", tmp_path / "broken"
    every_step = ["--config.checkpoint_every_steps=1", "--config.keep_checkpoints=2"]
    reference = _cli(full, steps, every_step)
    victim = _cli(broken, steps, every_step)
    deadline = time.time() + 500
    while time.time() < deadline:
        if (broken / "metrics.jsonl").exists() and len(read_jsonl(str(broken))) >= 4:
            break
        assert victim.poll() is None, victim.stderr.read()[-3000:]
        time.sleep(0.02)
    victim.kill()
    victim.wait()
    resumed = _cli(broken, steps, every_step)
    assert resumed.wait(timeout=500) == 0, resumed.stderr.read()[-3000:]
    assert reference.wait(timeout=500) == 0, reference.stderr.read()[-3000:]
    a, b = checkpoint.load_pretrained(str(full)), checkpoint.load_pretrained(str(broken))
    assert a.step == b.step == steps
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)
