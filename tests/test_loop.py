"""The shared training loop: what it guarantees whatever the task (here, tiny pretraining runs)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

from rhovid import config as config_lib
from rhovid import loop, presets
from rhovid.pretrain import train
from rhovid.writers import Writer, read_jsonl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(**overrides):
    c = presets.apply(config_lib.base_config("simclr"), "tiny")
    with c.unlocked():
        c.data.num_train_videos = 16
        c.data.crop_size = 16
        c.data.num_frames = 2
        c.num_steps = 6
        c.checkpoint_every_steps = 100
        for key, value in overrides.items():
            node = c
            *path, last = key.split(".")
            for p in path:
                node = node[p]
            node[last] = value
    return c


def _saved_steps(workdir) -> list[int]:
    return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())


def test_an_update_that_overflows_is_never_saved(tmp_path):
    """The loss of step 1 is finite (computed before the update), but the update makes the weights
    inf/NaN (lr = 1e38 · 16 / 1 overflows float32): the checkpoint of step 1 must not be written."""
    c = _tiny(
        **{"optim.optimizer": "sgd", "optim.base_lr": 1e38, "optim.base_batch_size": 1, "checkpoint_every_steps": 1}
    )
    with pytest.raises(FloatingPointError, match="state after step 1 holds NaN or inf") as err:
        train(c, str(tmp_path))
    assert "No checkpoint was saved before it" in str(err.value)
    assert not os.path.isdir(tmp_path / "checkpoints") or _saved_steps(tmp_path) == []
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1]
    assert np.isfinite(read_jsonl(str(tmp_path))[0]["loss"])


def test_sigterm_is_acted_on_at_the_next_step_boundary(tmp_path):
    """SIGTERM arriving during step 3 (sent by a hook) stops the run at step 3, saved."""
    sent = []

    def preempt(step, state):
        os.kill(os.getpid(), signal.SIGTERM)
        sent.append(step)
        return {}

    c = _tiny()
    with pytest.raises(loop.Preempted, match="step 3 of 6"):
        train(c, str(tmp_path), hooks=[loop.Hook(3, preempt)])
    assert sent == [3] and _saved_steps(tmp_path) == [3]
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1, 2, 3]
    assert signal.getsignal(signal.SIGTERM) is not None  # the loop's handler is gone again

    # Resuming finishes the run; a finished run then does nothing and says so.
    result = train(c, str(tmp_path))
    assert result.metrics and _saved_steps(tmp_path) == [3, 6]
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1, 2, 3, 4, 5, 6]
    again = train(c, str(tmp_path))
    assert again.metrics == {} and int(again.state.step) == 6


def _event_steps(workdir) -> list[int]:
    steps = []
    for path in sorted(tf.io.gfile.glob(os.path.join(workdir, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            if event.summary.value:
                steps.append(event.step)
    return steps


def test_tensorboard_events_are_cut_back_to_the_resumed_step(tmp_path):
    """A killed run logged steps 1..6 but its last checkpoint was step 4: after the resume, the
    event files (read back with TensorFlow's own TFRecord reader) hold each step once."""
    w = Writer(str(tmp_path))
    for step in range(1, 7):
        w.write_scalars(step, {"loss": float(step)})
    w.close()
    assert _event_steps(tmp_path) == [1, 2, 3, 4, 5, 6]
    time.sleep(1.1)  # a new event file name (its timestamp has a one-second resolution)
    w = Writer(str(tmp_path), resume_step=4)
    for step in range(5, 8):
        w.write_scalars(step, {"loss": float(step)})
    w.close()
    assert sorted(_event_steps(tmp_path)) == [1, 2, 3, 4, 5, 6, 7]
    assert [r["step"] for r in read_jsonl(str(tmp_path))] == [1, 2, 3, 4, 5, 6, 7]


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (the SigCgt mask of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.subprocess
def test_sigterm_at_any_time_exits_cleanly(tmp_path):
    """SIGTERM as soon as the process can catch it (during its start-up imports): exit 0, said so."""
    cmd = [
        sys.executable,
        "-m",
        "rhovid.main",
        f"--config={REPO}/configs/mocov.py:tiny",
        f"--workdir={tmp_path}",
        "--config.num_steps=1000",
    ]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not _catches_sigterm(proc.pid):  # the interpreter itself must be up (its handler installed)
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 0
    err = proc.stderr.read()
    assert "SIGTERM before training started" in err or "Stopped by SIGTERM at step" in err, err[-2000:]
