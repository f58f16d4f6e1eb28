"""The one resumable training loop, shared by every task that trains (pretraining, probes, fine-tuning).

    result = loop.run(config, workdir, program)

The loop owns what every long run needs and knows nothing about what is trained:
  - the workdir: locked for this run (a second process on it refuses at once, naming the holder);
    one holding a different recipe is refused (or, with `allow_config_change`, the change is
    recorded in `config_history.jsonl`), and the resolved config is kept beside the checkpoints;
  - checkpoints: restores the newest one that restores (a damaged one is set aside, named),
    saves every `checkpoint_every_steps`, at the end and on SIGTERM, and never saves a state with a
    non-finite value in it;
  - metrics: fetched one step late (the host never waits for the device between steps), a
    non-finite loss stops the run naming the step and the last good checkpoint, scalars go to
    TensorBoard and `metrics.jsonl` (both cut back to the resumed step), with progress and ETA;
  - SIGTERM (TPU maintenance, SLURM preemption): acted on at the next step boundary;
  - hooks: periodic evaluators (the kNN monitor) that add scalars at their steps;
  - try/finally: async saves are waited for, writers closed, whatever happens.

A task hands it a `Program`: an initial state, a step function, and batches from a given step; the
loop restores the state from the newest checkpoint, then asks for the batches from that step. This follows
the split of Flax's `examples/imagenet` (`train_and_evaluate` owns the loop, the model and data
are built by helpers) and big_vision's `train.py` (hooks run on a step cadence); unlike both, the
task is a plug-in, so pretraining, the linear probe and fine-tuning share this one loop.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from rhovid import checkpoint, run_config, writers
from rhovid import workdir as workdir_lib

StepFn = Callable[[Any, Any], tuple[Any, Mapping[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class Hook:
    """Calls `fn(step, state) -> {name: scalar}` after every `every_steps` steps (0: never)."""

    every_steps: int
    fn: Callable[[int, Any], Mapping[str, float]]

    def due(self, step: int) -> bool:
        return self.every_steps > 0 and step % self.every_steps == 0


@dataclasses.dataclass
class Program:
    """What a task gives the loop.

    Attributes:
      state: the initial state; its shapes and shardings are what a checkpoint restores into.
      step_fn: the jitted step, (state, device batch) -> (state, metrics); metrics hold 'loss'.
      batches: host batches from a start step on (a deterministic function of seed and step, so
        that a resumed run sees the batches the uninterrupted one saw). If the iterable has a
        `skipped_records` attribute (broken records it dropped), it is logged as
        `data/skipped_records`.
      to_device: host batch -> the step's global device batch.
      total_steps: the step the run ends at.
      examples_per_step: clips per step, for the clips/s figure.
      description: one line for the log ("ρBYOL (ρ=2) pretraining, 2 devices, batch 512").
      hooks: periodic evaluators.
    """

    state: Any
    step_fn: StepFn
    batches: Callable[[int], Iterable[Any]]
    to_device: Callable[[Any], Any]
    total_steps: int
    examples_per_step: int
    description: str
    hooks: Sequence[Hook] = ()


@dataclasses.dataclass
class Result:
    state: Any  # at the last step
    metrics: dict[str, float]  # the last step's (empty when the run had already finished)


class Preempted(Exception):
    """Training stopped early on SIGTERM after saving a checkpoint (a clean exit, not a failure)."""


class _Preemption:
    """Turns SIGTERM into a flag the loop checks at every step boundary."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: nobody can send us the signal's handler
            self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint at the end of this step and stopping.")
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    """True when every floating-point leaf of `tree` is finite (one fused reduction)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _last_good(ckpt: checkpoint.Checkpointer) -> str:
    step = ckpt.latest_step
    if step is None:
        return "No checkpoint was saved before it, so a restart begins from step 0"
    return f"The last good checkpoint is step {step} in {ckpt.directory}; a restart in the same workdir resumes from it"


def run(config: ml_collections.ConfigDict, workdir: str, program: Program) -> Result:
    """Trains `program` in `workdir`, resuming from the newest checkpoint there.

    Raises:
      FloatingPointError: a non-finite loss, or a state about to be saved with a non-finite value.
      Preempted: SIGTERM stopped it after saving a checkpoint, so a task never goes on to evaluate
        a half-trained network (`rhovid.main` turns it into a warning and exit status 0).
    """
    lock = workdir_lib.WorkdirLock(workdir, enabled=jax.process_index() == 0)
    with lock:  # before anything in the workdir is read or cleaned (orbax cleans at start-up)
        run_config.check_compatible(config, workdir, allow_changes=config.allow_config_change)
        ckpt = checkpoint.Checkpointer(workdir, every_steps=config.checkpoint_every_steps, keep=config.keep_checkpoints)
        writer = None
        try:
            state, start_step = ckpt.restore_latest(program.state)  # skips (and sets aside) damaged steps
            run_config.save_config(config, workdir, step=start_step)  # a changed recipe is recorded
            total = program.total_steps
            if start_step >= total:
                logging.info(
                    "%s: already finished at step %d of %d in %s; nothing to do.",
                    program.description,
                    start_step,
                    total,
                    workdir,
                )
                return Result(state, {})
            if start_step:
                logging.info("Resumed from step %d in %s.", start_step, workdir)
            writer = writers.Writer(workdir, resume_step=start_step)  # drops what a killed run logged after it
            state, last, step = _train(program, state, start_step, ckpt, writer, config.log_every_steps, lock.check)
        finally:
            ckpt.close()  # waits for async saves: a failure still leaves the last good step on disk
            if writer is not None:
                writer.close()
    if step < total:
        raise Preempted(
            f"Stopped by SIGTERM at step {step} of {total}; the checkpoint is saved: rerun the "
            "same command (same --workdir) to resume."
        )
    return Result(state, last)


def _train(
    program: Program,
    state: Any,
    start_step: int,
    ckpt: checkpoint.Checkpointer,
    writer: writers.Writer,
    log_every_steps: int,
    check_lock: Callable[[], None],
) -> tuple[Any, dict[str, float], int]:
    """Steps from `start_step` to the end or to SIGTERM; returns (state, last metrics, last step)."""
    total = program.total_steps
    progress = writers.Progress(total, program.examples_per_step, start_step)
    logging.info("%s: steps %d to %d.", program.description, start_step, total)
    last: dict[str, float] = {}
    pending = None  # (step, device metrics) of the step in flight
    window = {"start": time.perf_counter(), "input_wait": 0.0}  # since the last log line

    def finish(step: int, device_metrics) -> None:
        """Fetches a step's metrics (one step late), stops on a non-finite loss, logs."""
        nonlocal last
        metrics = {k: float(v) for k, v in jax.device_get(dict(device_metrics)).items()}
        if not np.isfinite(metrics["loss"]):
            raise FloatingPointError(
                f"Non-finite loss ({metrics['loss']}) at step {step}. {_last_good(ckpt)}. Lower "
                "--config.optim.base_lr or set --config.optim.grad_clip_norm first."
            )
        last = metrics
        if step % log_every_steps == 0 or step == total:
            now = time.perf_counter()
            extra = progress.update(step)
            extra["perf/input_wait_fraction"] = window["input_wait"] / max(now - window["start"], 1e-9)
            skipped = getattr(source, "skipped_records", None)  # dropped so far (read ahead of training)
            if skipped is not None:
                extra["data/skipped_records"] = skipped
            window.update(start=now, input_wait=0.0)
            writer.write_scalars(step, {**metrics, **extra})

    def save(step: int) -> None:
        """Checkpoints `state` as `step`; never a state holding NaN or inf, never into a lost workdir."""
        check_lock()  # another run took the workdir over (a stale-lock takeover): stop, do not write
        if not bool(_all_finite(state)):
            raise FloatingPointError(
                f"The state after step {step} holds NaN or inf (the update overflowed although the loss "
                f"was finite), so it is not saved. {_last_good(ckpt)}. Lower --config.optim.base_lr or set "
                "--config.optim.grad_clip_norm first."
            )
        ckpt.maybe_save(step, state, force=True)

    source = program.batches(start_step)
    batches = iter(source)
    step = start_step
    with _Preemption() as preemption:
        while step < total and not preemption.requested:
            t0 = time.perf_counter()
            batch = program.to_device(next(batches))
            window["input_wait"] += time.perf_counter() - t0
            state, metrics = program.step_fn(state, batch)
            if pending is not None:
                finish(*pending)
            step += 1
            pending = (step, metrics)
            due = step % ckpt.every_steps == 0 or step == total
            hooks = [h for h in program.hooks if h.due(step)]
            if due or preemption.requested or hooks:
                finish(*pending)  # a checkpoint or an evaluation of a non-finite state is never made
                pending = None
            for hook in hooks:
                scalars = hook.fn(step, state)
                if scalars:
                    writer.write_scalars(step, scalars)
            if due or preemption.requested:  # the signal may have come during a hook, too
                save(step)
        if pending is not None:
            finish(*pending)
        save(step)  # a no-op when this step was just saved
    return state, last, step
