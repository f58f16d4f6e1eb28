"""A damaged latest checkpoint: named in one line, moved aside, and the previous step restored.

Each case saves real orbax steps of a small state, damages the newest one on disk the way a bad
disk or copy does, and checks the fallback against the values that were saved.
"""

import glob
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from absl import logging as absl_logging

from rhovid import checkpoint, run_config
from rhovid.errors import UserError
from rhovid.state import TrainState


def _state(scale: float) -> TrainState:
    return TrainState(
        step=jnp.asarray(int(scale), jnp.int32),
        params={"backbone": {"w": jnp.arange(512, dtype=jnp.float32) * scale}, "head": {"b": jnp.ones(4) * scale}},
        batch_stats={"backbone": {"mean": jnp.full((8,), scale)}},
        target_params={},
        target_batch_stats={},
        opt_state={"mu": jnp.arange(512, dtype=jnp.float32) * -scale},
        method_state={},
        rng=jnp.asarray([0, int(scale)], jnp.uint32),
    )


def _save(workdir, steps):
    ckpt = checkpoint.Checkpointer(workdir, every_steps=1, keep=5, async_save=False)
    for s in steps:
        ckpt.maybe_save(s, _state(float(s)))
    ckpt.close()


def _largest_data_file(step_dir, item):
    files = glob.glob(os.path.join(step_dir, item, "**", "d", "*"), recursive=True)
    return max(files, key=os.path.getsize)


def _truncate(step_dir):
    path = _largest_data_file(step_dir, "model")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 4)


def _garbage_metadata(step_dir):
    with open(os.path.join(step_dir, "model", "_METADATA"), "wb") as f:
        f.write(bytes(range(128, 256)) * 4)  # not UTF-8: what orbax read as a raw UnicodeDecodeError


def _no_manifest(step_dir):
    os.remove(os.path.join(step_dir, "model", "manifest.ocdbt"))


def _no_item(step_dir):
    shutil.rmtree(os.path.join(step_dir, "train"))


CASES = {
    "truncated_data": (_truncate, "the arrays of 'model' do not read"),
    "garbage_metadata": (_garbage_metadata, "'model/_METADATA' is not valid JSON"),
    "missing_manifest": (_no_manifest, "'model/manifest.ocdbt' is missing"),
    "missing_item": (_no_item, "item 'train' is missing"),
}


@pytest.fixture
def warnings(monkeypatch):
    lines = []
    monkeypatch.setattr(absl_logging, "warning", lambda msg, *a: lines.append(msg % a))
    return lines


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_latest_falls_back_to_previous_step(case, tmp_path, warnings):
    damage, reason = CASES[case]
    workdir = str(tmp_path)
    _save(workdir, [1, 2])
    step_dir = os.path.join(workdir, "checkpoints", "2")
    damage(step_dir)

    ckpt = checkpoint.Checkpointer(workdir, every_steps=1, keep=5, async_save=False)
    restored, step = ckpt.restore_latest(_state(0.0))
    assert step == 1
    want = _state(1.0)
    np.testing.assert_array_equal(restored.params["backbone"]["w"], want.params["backbone"]["w"])
    np.testing.assert_array_equal(restored.opt_state["mu"], want.opt_state["mu"])
    assert int(restored.step) == 1

    # One line naming the folder and why; the folder is kept aside for inspection, out of orbax's view.
    damaged_lines = [w for w in warnings if "is damaged" in w]
    assert len(damaged_lines) == 1 and "\n" not in damaged_lines[0], warnings
    assert step_dir in damaged_lines[0] and reason in damaged_lines[0], damaged_lines[0]
    assert not os.path.exists(step_dir)
    (aside,) = glob.glob(os.path.join(workdir, checkpoint.DAMAGED_DIR, "2-*"))
    assert os.path.isdir(aside) and aside in damaged_lines[0]
    assert ckpt.latest_step == 1 and ckpt.manager.all_steps() == [1]

    # Training goes on: step 2 can be saved again and restores.
    ckpt.maybe_save(2, _state(2.0))
    again, step = ckpt.restore_latest(_state(0.0))
    ckpt.close()
    assert step == 2
    np.testing.assert_array_equal(again.params["head"]["b"], np.full(4, 2.0, np.float32))


def test_every_step_damaged_refuses_instead_of_starting_over(tmp_path, warnings):
    workdir = str(tmp_path)
    _save(workdir, [1, 2])
    for s in (1, 2):
        _no_manifest(os.path.join(workdir, "checkpoints", str(s)))
    ckpt = checkpoint.Checkpointer(workdir, every_steps=1, keep=5, async_save=False)
    with pytest.raises(UserError, match=r"Every checkpoint .* is damaged \(2: .*; 1: .*\)") as e:
        ckpt.restore_latest(_state(0.0))
    ckpt.close()
    assert "\n" not in str(e.value)


def test_no_checkpoint_starts_at_zero(tmp_path):
    ckpt = checkpoint.Checkpointer(str(tmp_path), every_steps=1, keep=5, async_save=False)
    state, step = ckpt.restore_latest(_state(3.0))
    ckpt.close()
    assert step == 0 and float(state.params["head"]["b"][0]) == 3.0


def test_a_state_that_does_not_fit_is_not_called_damage(tmp_path):
    """Intact files restored into another shape raise as before; nothing is moved aside."""
    workdir = str(tmp_path)
    _save(workdir, [1])
    other = _state(0.0)
    other.params["head"]["b"] = jnp.ones(5)
    ckpt = checkpoint.Checkpointer(workdir, every_steps=1, keep=5, async_save=False)
    with pytest.raises(Exception) as e:
        ckpt.restore_latest(other)
    ckpt.close()
    assert not isinstance(e.value, UserError)
    assert os.path.isdir(os.path.join(workdir, "checkpoints", "1"))
    assert not os.path.exists(os.path.join(workdir, checkpoint.DAMAGED_DIR))


def test_load_pretrained_skips_a_damaged_latest_step(tmp_path, warnings):
    workdir = str(tmp_path)
    run_config.save_config(_config(), workdir)
    _save(workdir, [1, 2])
    _truncate(os.path.join(workdir, "checkpoints", "2"))
    pretrained = checkpoint.load_pretrained(workdir)
    assert pretrained.step == 1
    np.testing.assert_array_equal(pretrained.params["w"], np.arange(512, dtype=np.float32))
    assert any("checkpoints/2 is damaged" in w for w in warnings)


def _config():
    from rhovid import config as config_lib

    return config_lib.base_config("byol")


def test_save_failure_advice_depends_on_the_cause(tmp_path):
    """'Free disk space' only for a full disk; a vanished file points at a second process."""
    import errno

    ckpt = checkpoint.Checkpointer(str(tmp_path), every_steps=1, keep=5, async_save=False)
    full = ckpt._save_failed(2, 1, OSError(errno.ENOSPC, "No space left on device"))
    tensorstore_full = ckpt._save_failed(2, 1, ValueError("RESOURCE_EXHAUSTED: ... No space left on device"))
    vanished = ckpt._save_failed(2, 1, FileNotFoundError(errno.ENOENT, "No such file", "x.orbax-checkpoint-tmp"))
    ckpt.close()
    assert "Free disk space" in str(full) and "Free disk space" in str(tensorstore_full)
    assert "Free disk space" not in str(vanished) and "another process" in str(vanished)
    assert all("previous checkpoint (1) is intact" in str(e) for e in (full, tensorstore_full, vanished))
