"""Metric writers (TensorBoard event files + console, through clu, and `metrics.jsonl`), progress, ETA.

Only process 0 writes; other processes get a logging-only writer so that every host can call the
same code. Besides TensorBoard, scalars are appended to `metrics.jsonl` in the workdir: one JSON
object per logged step, easy to read back in a notebook or a test. A run resumed from a checkpoint
at step k first drops what was logged after k, in `metrics.jsonl` (`truncate_jsonl`) and in the
TensorBoard event files (`truncate_events`), so that steps a killed run had logged past its last
checkpoint appear once, not twice, and curves do not overlap after a restart.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import time
from collections.abc import Mapping

import jax
import numpy as np
from absl import logging
from clu import metric_writers


class Writer:
    """Writes scalars to TensorBoard, the console and `metrics.jsonl` (process 0 only).

    Args:
      workdir: where `metrics.jsonl` and the event files go.
      resume_step: the step training (re)starts from; lines logged after it are dropped first.
        None appends to whatever is there.
    """

    def __init__(self, workdir: str, resume_step: int | None = None):
        self.is_chief = jax.process_index() == 0
        self._jsonl = None
        if self.is_chief:
            os.makedirs(workdir, exist_ok=True)
            path = os.path.join(workdir, "metrics.jsonl")
            if resume_step is not None:
                truncate_jsonl(path, resume_step)
                truncate_events(workdir, resume_step)
            self._jsonl = open(path, "a")
        self._tb = metric_writers.create_default_writer(workdir, just_logging=not self.is_chief, asynchronous=False)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        scalars = {k: float(np.asarray(v)) for k, v in scalars.items()}
        self._tb.write_scalars(step, scalars)
        if self._jsonl:
            self._jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
            self._jsonl.flush()

    def flush(self) -> None:
        self._tb.flush()
        if self._jsonl:
            self._jsonl.flush()

    def close(self) -> None:
        self.flush()
        self._tb.close()
        if self._jsonl:
            self._jsonl.close()


def truncate_jsonl(path: str, last_step: int) -> int:
    """Drops the lines of `path` with a step after `last_step`, and torn ones; returns how many.

    A run killed at step k after its last checkpoint at step j < k has logged steps j+1..k, which
    the resumed run logs again. The kept lines are written to a temporary file that then replaces
    `path` (os.replace is atomic), so a crash during the rewrite leaves the old file or the new one,
    never a mix. A line that is not a JSON object (the last one, cut by a kill mid-write) is dropped.
    """
    if not os.path.exists(path):
        return 0
    kept, dropped = [], 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and row.get("step", 0) <= last_step:
                kept.append(line.rstrip("\n") + "\n")
            else:
                dropped += 1
    if dropped:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.writelines(kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        logging.info("Resuming at step %d: dropped %d lines logged after it from %s.", last_step, dropped, path)
    return dropped


def truncate_events(workdir: str, last_step: int) -> int:
    """Drops the TensorBoard events of the workdir's event files with a step after `last_step`.

    Event files are TFRecord files of `Event` protos; each one holding a later step is rewritten
    without those events, through a temporary file and an atomic `os.replace`. Returns how many
    events were dropped.
    """
    import tensorflow as tf  # TensorBoard's own format; only on resume
    from tensorboard.compat.proto import event_pb2

    dropped = 0
    for path in sorted(tf.io.gfile.glob(os.path.join(workdir, "events.out.tfevents.*"))):
        kept, late = [], 0
        for record in tf.data.TFRecordDataset(path).ignore_errors().as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            if event.step > last_step:
                late += 1
            else:
                kept.append(record)
        if late:
            tmp = f"{path}.tmp"
            with tf.io.TFRecordWriter(tmp) as out:
                for record in kept:
                    out.write(record)
            os.replace(tmp, path)
            dropped += late
    if dropped:
        logging.info("Resuming at step %d: dropped %d TensorBoard events logged after it.", last_step, dropped)
    return dropped


def read_jsonl(workdir: str) -> list[dict]:
    """The scalars a run wrote to `metrics.jsonl`, in order."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


class Progress:
    """Steps/s, clips/s and ETA between calls, measured on the host's wall clock."""

    def __init__(self, total_steps: int, clips_per_step: int, start_step: int = 0):
        self.total_steps = total_steps
        self.clips_per_step = clips_per_step
        self._last_step, self._last_time = start_step, time.perf_counter()

    def update(self, step: int) -> dict[str, float]:
        """Rates since the previous call; logs one line with the ETA."""
        now = time.perf_counter()
        steps = step - self._last_step
        dt = max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        if steps <= 0:
            return {}
        steps_per_sec = steps / dt
        eta = (self.total_steps - step) / steps_per_sec
        logging.info(
            "step %d/%d (%.1f%%)  %.2f steps/s  %.1f clips/s  ETA %s",
            step,
            self.total_steps,
            100.0 * step / self.total_steps,
            steps_per_sec,
            steps_per_sec * self.clips_per_step,
            _hms(eta),
        )
        return {"perf/steps_per_sec": steps_per_sec, "perf/clips_per_sec": steps_per_sec * self.clips_per_step}


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _QuietLibraries(std_logging.Filter):
    """Drops INFO chatter from orbax and TFDS (dozens of lines per checkpoint), orbax's warning that
    a checkpoint directory opened for reading is read-only (every evaluation load), and JAX's
    "Unable to initialize backend 'tpu'" on machines without one."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        orbax = "/orbax/" in record.pathname
        if orbax and ("read only" in str(record.msg) or "read_only" in str(record.msg)):
            return False
        if record.levelno < std_logging.WARNING and "xla_bridge" in record.pathname:
            return "Unable to initialize backend" not in str(record.msg)
        noisy = orbax or "/tensorflow_datasets/" in record.pathname
        return record.levelno >= std_logging.WARNING or not noisy


def quiet_libraries() -> None:
    """Installs the filter on absl's handler (call once, from the entry point)."""
    for handler in std_logging.getLogger().handlers + [logging.get_absl_handler()]:
        handler.addFilter(_QuietLibraries())
