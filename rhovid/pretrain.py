"""The pretraining task: a ρ objective on the Slow network, trained by the shared loop.

    pretrain.run(config, workdir)           # task "pretrain"
    pretrain.train(config, workdir, ...)    # the same, with extra hooks; returns the loop's Result

Builds, from the config: the input stream (from the resume step), the lr and momentum schedules,
the optimiser, the online and momentum networks, the objective, the sharded train step; the loop
(`rhovid.loop`) does the rest. The kNN monitor is a hook when `knn.every_steps` > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_collections
from absl import logging

from rhovid import config as config_lib
from rhovid import loop, optim, sharding
from rhovid.data.reading import sources
from rhovid.methods import build_objective
from rhovid.models.network import build_network
from rhovid.state import create_train_state
from rhovid.steps import make_train_step


def resolve_bn_group_size(config: ml_collections.ConfigDict, num_devices: int) -> int:
    """model.bn_group_size in clips: -1 means the clips of one device (per-device BN)."""
    if config.model.bn_group_size != -1:
        return config.model.bn_group_size
    return config.batch_size * sources.num_views(config.data) // num_devices


def knn_hook(config: ml_collections.ConfigDict, net, mesh) -> loop.Hook:
    """kNN top-1/top-5 of the current backbone (BN in inference mode) on the eval split.

    The bank is the train split (`config.knn.max_train_videos` caps it), queries the eval split.
    """

    def monitor(step: int, state) -> dict[str, float]:
        from rhovid.eval import knn  # imports TensorFlow through the reader

        variables = {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
        per_device = max(1, 32 // mesh.devices.size)
        result = knn.knn_monitor(
            net.backbone.apply,
            variables,
            config.data,
            mesh=mesh,
            batch_size=per_device * mesh.devices.size,
            k=config.knn.k,
            temperature=config.knn.temperature,
            max_train_videos=config.knn.max_train_videos,
        )
        logging.info(
            "kNN monitor at step %d: top-1 %.2f%%, top-5 %.2f%% (bank of %d videos).",
            step,
            100 * result["knn/top1"],
            100 * result["knn/top5"],
            result["knn/bank_size"],
        )
        return result

    return loop.Hook(config.knn.every_steps, monitor)


def train(config: ml_collections.ConfigDict, workdir: str, hooks: Sequence[loop.Hook] = ()) -> loop.Result:
    """Pretrains `config` in `workdir` (resuming if it holds a checkpoint)."""
    mesh = sharding.make_mesh()
    config_lib.validate(config, mesh.devices.size)
    d = config.data
    num_views = sources.num_views(d)
    steps_per_epoch = max(sources.num_train_examples(config) // config.batch_size, 1)
    total_steps = config.num_steps or int(round(config.num_epochs * steps_per_epoch))

    lr_schedule = optim.lr_schedule_for(config, steps_per_epoch, total_steps)  # warms up onto the cosine
    momentum_schedule = optim.make_momentum_schedule(
        config.objective.momentum_base, total_steps, anneal=config.objective.momentum_anneal
    )
    tx = optim.make_optimizer(config.optim, lr_schedule)
    net = build_network(config, resolve_bn_group_size(config, mesh.devices.size))
    objective = build_objective(config)
    state = create_train_state(
        net=net,
        objective=objective,
        tx=tx,
        clip_shape=(d.num_frames, d.crop_size, d.crop_size, 3),
        num_views=num_views,
        global_batch_size=config.batch_size,
        embed_dim=config.model.embed_dim,
        seed=config.seed,
        mesh=mesh,
    )
    step_fn = make_train_step(
        config,
        net,
        objective,
        tx,
        lr_schedule=lr_schedule,
        momentum_schedule=momentum_schedule,
        steps_per_epoch=steps_per_epoch,
        mesh=mesh,
    )
    program = loop.Program(
        state=state,
        step_fn=step_fn,
        batches=lambda start: sources.make_pretrain_source(config, start),
        to_device=lambda batch: sharding.to_global(batch, mesh),
        total_steps=total_steps,
        examples_per_step=config.batch_size * num_views,
        description=(
            f"Pretraining ρ{config.method} (ρ={d.rho}), {total_steps} steps ({steps_per_epoch} "
            f"per epoch), {mesh.devices.size} devices, batch {config.batch_size} videos"
        ),
        hooks=[knn_hook(config, net, mesh), *hooks],
    )

    return loop.run(config, workdir, program)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """The `pretrain` task: returns the last step's metrics."""
    return train(config, workdir).metrics
