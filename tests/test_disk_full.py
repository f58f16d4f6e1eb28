"""A disk that fills up during a checkpoint save: a clear error, and the previous checkpoint intact.

The workdir lives on a real, small tmpfs (mounted for the test; skipped where mounting is not
permitted). After one good save, the rest of the filesystem is filled with a file, so the next save
fails with ENOSPC inside orbax/tensorstore, as on a full disk. The error must say what happened
and that the previous checkpoint is intact; after freeing space the previous checkpoint must
restore bit for bit.
"""

import contextlib
import os
import subprocess

import jax.numpy as jnp
import numpy as np
import pytest

from rhovid.checkpoint import Checkpointer
from rhovid.state import TrainState


def _state(step: int, value: float) -> TrainState:
    """A small hand-built state (~1 MB), no network needed."""
    w = jnp.full((512, 256), value, jnp.float32)
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        params={"w": w},
        batch_stats={"mean": w[0]},
        target_params={"w": w * 2},
        target_batch_stats={"mean": w[0] * 2},
        opt_state={"mu": w * 3},
        method_state={"queue": w[:8]},
        rng=jnp.asarray([1, 2], jnp.uint32),
    )


@contextlib.contextmanager
def _tmpfs(path, size: str):
    os.makedirs(path, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): no small disk to fill")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory) -> str:
    """Writes zeros into `directory` until the filesystem is full; returns the file's path."""
    path = os.path.join(directory, "filler")
    block = b"\0" * (1 << 16)
    with open(path, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    return path


def test_full_disk_during_a_save_fails_clearly_and_keeps_the_previous_checkpoint(tmp_path):
    with _tmpfs(tmp_path / "disk", "24m") as disk:
        workdir = os.path.join(disk, "run")
        ckpt = Checkpointer(workdir, every_steps=1, keep=3)
        good = _state(1, 1.5)
        assert ckpt.maybe_save(1, good)
        ckpt.wait()
        filler = _fill(disk)

        with pytest.raises(OSError, match=r"previous checkpoint \(1\) is intact") as failure:
            ckpt.maybe_save(2, _state(2, 2.5))
            ckpt.wait()
        assert "Free disk space" in str(failure.value)

        os.remove(filler)
        reopened = Checkpointer(workdir, every_steps=1, keep=3)
        assert reopened.latest_step == 1
        restored = reopened.restore(_state(0, 0.0))
        for a, b in zip(jax_leaves(restored), jax_leaves(good)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def jax_leaves(state):
    import jax

    return jax.tree.leaves(state)
