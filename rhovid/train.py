"""The pretraining loop: build everything from the config, resume, train, log, checkpoint.

    train_and_evaluate(config, workdir)
      validate the config; refuse a workdir holding a different run
      input source (from the resume step) -> schedules -> optimiser -> state -> restore latest
      loop: global batch -> jitted step -> (one step later) metrics: non-finite check, logging
            checkpoint every N steps, at the end, and on SIGTERM (preemption: save, exit cleanly)

Metrics are fetched one step late so the host never waits for the device between steps.
"""

from __future__ import annotations

import signal
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from rhovid import checkpoint, optim, sharding
from rhovid import config as config_lib
from rhovid.data import sources
from rhovid.methods import build_objective
from rhovid.metrics import Progress, Writer
from rhovid.models.network import build_network
from rhovid.state import create_train_state
from rhovid.steps import make_train_step


class _Preemption:
    """Turns SIGTERM (TPU VM maintenance, SLURM) into a flag the loop checks every step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint and stopping.")
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def knn_monitor(config: ml_collections.ConfigDict, net, state, mesh) -> dict[str, float]:
    """kNN top-1/top-5 of the current backbone (BN in inference mode) on the eval split.

    The bank is the train split (`config.knn.max_train_videos` caps it), queries the eval split.
    """
    from rhovid.eval import knn  # noqa: PLC0415 (imports TensorFlow through the reader)

    variables = {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
    per_device = max(1, 32 // mesh.devices.size)
    result = knn.knn_monitor(net.backbone.apply, variables, config.data, mesh=mesh,
                             batch_size=per_device * mesh.devices.size, k=config.knn.k,
                             temperature=config.knn.temperature,
                             max_train_videos=config.knn.max_train_videos)
    logging.info("kNN monitor: top-1 %.2f%%, top-5 %.2f%% (bank of %d videos).", 100 * result["knn/top1"],
                 100 * result["knn/top5"], result["knn/bank_size"])
    return result


def resolve_bn_group_size(config: ml_collections.ConfigDict, num_devices: int) -> int:
    """model.bn_group_size in clips: -1 means the clips of one device (per-device BN)."""
    if config.model.bn_group_size != -1:
        return config.model.bn_group_size
    return config.batch_size * sources.num_views(config.data) // num_devices


class Preempted(Exception):
    """Training stopped early on SIGTERM after saving a checkpoint (a clean exit, not a failure)."""


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Pretrains `config` in `workdir` (resuming if it holds a checkpoint); returns last metrics.

    Raises `Preempted` when SIGTERM stopped it early (after the checkpoint is saved), so that a
    caller such as the demo does not go on to evaluate a half-trained network.
    """
    mesh = sharding.make_mesh()
    config_lib.validate(config, mesh.devices.size)
    checkpoint.check_compatible(config, workdir)
    ckpt = checkpoint.Checkpointer(workdir, every_steps=config.checkpoint_every_steps,
                                   keep=config.keep_checkpoints)
    start_step = ckpt.latest_step or 0
    source = sources.make_pretrain_source(config, start_step)
    steps_per_epoch = max(source.num_examples // config.batch_size, 1)
    total_steps = config.num_steps or int(round(config.num_epochs * steps_per_epoch))
    num_views = sources.num_views(config.data)

    lr_schedule = optim.make_lr_schedule(
        optim.peak_learning_rate(config.optim, config.batch_size), total_steps,
        int(config.optim.warmup_epochs * steps_per_epoch), config.optim.warmup_init_lr)
    momentum_schedule = optim.make_momentum_schedule(config.objective.momentum_base, total_steps)
    tx = optim.make_optimizer(config.optim, lr_schedule)
    net = build_network(config, resolve_bn_group_size(config, mesh.devices.size))
    objective = build_objective(config)
    d = config.data
    state = create_train_state(
        net=net, objective=objective, tx=tx, clip_shape=(d.num_frames, d.crop_size, d.crop_size, 3),
        num_views=num_views, global_batch_size=config.batch_size, embed_dim=config.model.embed_dim,
        seed=config.seed, mesh=mesh)
    if start_step:
        state = ckpt.restore(state)
        logging.info("Resumed from step %d in %s.", start_step, workdir)
    checkpoint.save_config(config, workdir)
    train_step = make_train_step(config, net, objective, tx, lr_schedule=lr_schedule,
                                 momentum_schedule=momentum_schedule,
                                 steps_per_epoch=steps_per_epoch, mesh=mesh)

    writer = Writer(workdir, resume_step=start_step)  # drops lines a killed run logged after it
    progress = Progress(total_steps, config.batch_size * num_views, start_step)
    logging.info("Training %s (ρ=%d) for %d steps (%d per epoch), %d devices, batch %d videos.",
                 config.method, d.rho, total_steps, steps_per_epoch, mesh.devices.size,
                 config.batch_size)
    batches = iter(source)
    last: dict[str, float] = {}
    pending = None  # (step, device metrics) of the step in flight
    window = {"start": time.perf_counter(), "input_wait": 0.0}  # since the last log line

    def finish(step: int, device_metrics) -> None:
        nonlocal last
        metrics = {k: float(v) for k, v in jax.device_get(device_metrics).items()}
        if not np.isfinite(metrics["loss"]):
            raise FloatingPointError(
                f"Non-finite loss ({metrics['loss']}) at step {step}. The last good checkpoint is "
                f"step {ckpt.latest_step} in {ckpt.directory}. Lower --config.optim.base_lr or set "
                "--config.optim.grad_clip_norm, then restart in the same workdir to resume.")
        last = metrics
        if step % config.log_every_steps == 0 or step == total_steps:
            now = time.perf_counter()
            extra = progress.update(step)
            extra["perf/input_wait_fraction"] = window["input_wait"] / max(now - window["start"], 1e-9)
            # Broken records this process's reader dropped so far (counted as read, ahead of training).
            skipped = getattr(source, "skipped_records", None)
            if skipped is not None:
                extra["data/skipped_records"] = skipped
            window.update(start=now, input_wait=0.0)
            writer.write_scalars(step, {**metrics, **extra})

    try:
        with _Preemption() as preemption:
            for step in range(start_step, total_steps):
                t0 = time.perf_counter()
                batch = sharding.to_global(next(batches), mesh)
                window["input_wait"] += time.perf_counter() - t0
                state, metrics = train_step(state, batch)
                if pending is not None:
                    finish(*pending)
                pending = (step + 1, metrics)
                if (step + 1) % ckpt.every_steps == 0 or preemption.requested:
                    finish(*pending)  # never checkpoint a non-finite state
                    pending = None
                    ckpt.maybe_save(step + 1, state, force=preemption.requested)
                if config.knn.every_steps and (step + 1) % config.knn.every_steps == 0:
                    writer.write_scalars(step + 1, knn_monitor(config, net, state, mesh))
                if preemption.requested:
                    break
            if pending is not None:
                finish(*pending)
            ckpt.maybe_save(int(state.step), state, force=True)
    finally:
        ckpt.close()  # waits for async saves: a failure still leaves the last good step on disk
        writer.close()
    if preemption.requested:
        raise Preempted(f"Stopped by SIGTERM at step {int(state.step)} of {total_steps}; the checkpoint "
                        f"is saved: rerun the same command (same --workdir) to resume.")
    return last
