"""Supervised training of a classifier on a pretrained backbone, and the fine-tuning protocol.

Fine-tuning (UCF101 / HMDB51): the whole network trains, backbone BN in training mode
(SyncBN over the global batch), dropout 0.8 before the linear classifier, SGD momentum 0.9, wd 0,
batch 64, lr 0.025 divided by 10 at epochs 60 / 120 / 180 of 200 (the paper; the official config's
cosine at 0.01 is `eval.lr_schedule='cosine'`). Test: 10 clips × 3 crops, softmax averaged. Multi-label
data (Charades, `eval.multi_label=True`): multi-hot targets, per-class sigmoid binary cross-entropy,
the sigmoid scores max-pooled over the views (`eval.view_pooling`) and mAP in results.json. With
`eval.splits=(1, 2, 3)` each split trains from the same pretrained weights in
`workdir/split_<n>` and the top-level results.json holds the 3-split mean and std.

The pieces shared with the paper linear probe (`linear.py`) live here too: the classifier state
(a `rhovid.state.TrainState` whose params are {'backbone', 'head'}, so the core's checkpointer
saves and resumes it), its training through the shared loop, and the multi-view test.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from rhovid import loop, optim, sharding
from rhovid.data import registry
from rhovid.data.reading import device_augment
from rhovid.errors import UserError
from rhovid.eval import features as features_lib
from rhovid.eval import multiview
from rhovid.eval import results as results_lib
from rhovid.state import TrainState

StepFn = Callable[[TrainState, dict], tuple[TrainState, dict]]


def make_head(num_classes: int) -> nn.Dense:
    """The linear classifier: weights N(0, 0.01²), bias 0 (PySlowFast's head init)."""
    return nn.Dense(num_classes, kernel_init=nn.initializers.normal(0.01), name="head")


def create_state(
    backbone: features_lib.Backbone,
    num_features: int,
    num_classes: int,
    tx: optax.GradientTransformation,
    *,
    trainable: str,
    seed: int,
    mesh: jax.sharding.Mesh,
) -> TrainState:
    """A replicated classifier state: params {'backbone', 'head'}, backbone BN statistics.

    Args:
      backbone: the loaded backbone (its variables become the initial backbone params).
      num_features: D, the backbone's feature width.
      num_classes: C.
      tx: the optimiser.
      trainable: "head" (optimiser state for the head only) or "all".
      seed: initialises the head and the dropout stream.
      mesh: the device mesh.
    """
    rng, head_rng = jax.random.split(jax.random.PRNGKey(seed))
    head_params = make_head(num_classes).init(head_rng, jnp.zeros((1, num_features)))["params"]
    # Copies: the train step donates its state, and the backbone may serve several splits.
    fresh = jax.tree.map(jnp.copy, backbone.variables)
    params = {"backbone": fresh["params"], "head": head_params}
    opt_params = params if trainable == "all" else params["head"]
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=fresh["batch_stats"],
        target_params={},
        target_batch_stats={},
        opt_state=tx.init(opt_params),
        method_state={},
        rng=rng,
    )
    return jax.device_put(state, sharding.replicated(mesh))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Softmax cross-entropy (mean over the batch) and top-1 accuracy; logits [B, C], labels int [B]."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss.mean(), accuracy


def sigmoid_cross_entropy(logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The multi-label loss: per-class sigmoid binary cross-entropy, and a cheap train metric.

    The loss is −[y log σ(z) + (1 − y) log(1 − σ(z))] averaged over classes and batch (PySlowFast's
    `bce_logit`, `nn.BCEWithLogitsLoss(reduction="mean")`). The metric is the fraction of the clips
    with at least one label whose highest-scoring class is one of them ("top-1 in labels"; train
    mAP would need the whole epoch's scores).

    Args:
      logits: [B, C].
      targets: [B, C] multi-hot float.
    """
    logits = logits.astype(jnp.float32)
    loss = optax.sigmoid_binary_cross_entropy(logits, targets).mean()
    hit = jnp.take_along_axis(targets, jnp.argmax(logits, -1)[:, None], axis=-1)[:, 0] > 0  # [B]
    labelled = jnp.any(targets > 0, axis=-1)  # [B]
    return loss, jnp.sum(hit) / jnp.maximum(jnp.sum(labelled), 1)


def make_finetune_step(
    model: nn.Module,
    num_classes: int,
    tx: optax.GradientTransformation,
    lr_schedule: optax.Schedule,
    data_cfg: ml_collections.ConfigDict,
    dropout_rate: float,
    multi_label: bool = False,
) -> StepFn:
    """A train step updating backbone and head: BN in training mode, dropout before the head.

    Single-label batches carry `label` int [B] (softmax cross-entropy, metric `train_top1`);
    multi-label ones a multi-hot `label` [B, C] (sigmoid cross-entropy, `train_top1_in_labels`).
    """
    head, dropout = make_head(num_classes), nn.Dropout(dropout_rate)
    loss_of = sigmoid_cross_entropy if multi_label else cross_entropy
    metric = "train_top1_in_labels" if multi_label else "train_top1"

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng, dropout_rng = jax.random.split(state.rng)
        x = device_augment.normalize(batch["clips"], data_cfg)  # [B, T, H, W, 3]

        def loss_fn(params):
            feats, updates = model.apply(
                {"params": params["backbone"], "batch_stats": state.batch_stats}, x, train=True, mutable=["batch_stats"]
            )  # [B, D]
            feats = dropout.apply({}, feats, deterministic=False, rngs={"dropout": dropout_rng})
            logits = head.apply({"params": params["head"]}, feats)  # [B, C]
            loss, acc = loss_of(logits, batch["label"])
            return loss, (updates["batch_stats"], acc)

        (loss, (stats, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        state = dataclasses.replace(
            state,
            step=state.step + 1,
            rng=rng,
            batch_stats=stats,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
        )
        return state, {
            "loss": loss,
            metric: acc,
            "lr": lr_schedule(state.step - 1),
            "grad_norm": optax.tree_utils.tree_norm(grads),
        }

    return train_step


def make_predict_fn(model: nn.Module, num_classes: int, data_cfg: ml_collections.ConfigDict):
    """jitted fn(state, clips uint8 [N, T, H, W, 3]) -> {'logits' [N, C], 'features' [N, D]}."""
    head = make_head(num_classes)

    @jax.jit
    def predict(state: TrainState, clips: jax.Array) -> dict[str, jax.Array]:
        x = device_augment.normalize(clips, data_cfg)
        feats = model.apply(
            {"params": state.params["backbone"], "batch_stats": state.batch_stats}, x, train=False
        )  # [N, D]
        return {"logits": head.apply({"params": state.params["head"]}, feats), "features": feats}

    return predict


def num_train_steps(config: ml_collections.ConfigDict, num_train: int) -> tuple[int, int]:
    """(total steps, steps per epoch): `num_steps` if set, else epochs × ceil(N / batch)."""
    per_epoch = max(1, math.ceil(num_train / config.batch_size))
    total = config.num_steps or int(round(config.num_epochs * per_epoch))
    return total, per_epoch


def make_schedule(config: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int) -> optax.Schedule:
    """`eval.lr_schedule`: 'cosine' (warmup + half cosine) or 'steps' (÷10 at `eval.lr_decay_at`)."""
    peak = optim.peak_learning_rate(config.optim, config.batch_size)
    warmup = int(round(config.optim.warmup_epochs * steps_per_epoch))
    if config.eval.lr_schedule == "cosine":
        return optim.make_lr_schedule(peak, total_steps, warmup, config.optim.warmup_init_lr)
    if config.eval.lr_schedule == "steps":
        boundaries: dict[int, float] = {}
        for f in config.eval.lr_decay_at:  # coinciding boundaries (very short runs) compound
            b = int(round(f * total_steps))
            boundaries[b] = boundaries.get(b, 1.0) * 0.1
        decay = optax.piecewise_constant_schedule(peak, boundaries)
        if warmup == 0:
            return decay
        ramp = optax.linear_schedule(config.optim.warmup_init_lr, peak, warmup)
        return lambda step: jnp.where(step < warmup, ramp(step), decay(step))
    raise UserError(f"eval.lr_schedule={config.eval.lr_schedule!r}; use 'cosine' or 'steps'.")


def train(
    state: TrainState,
    step_fn: StepFn,
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    mesh: jax.sharding.Mesh,
    total_steps: int,
    description: str,
    color: bool = False,
    multi_hot_classes: int | None = None,
) -> TrainState:
    """Trains a classifier state for `total_steps` with the shared loop (`rhovid.loop`).

    Batches come from `make_supervised_source` on `data.train_split` (multi-hot [B, C] labels with
    `multi_hot_classes` = C), a deterministic function of
    (seed, step), so a resumed run continues with the next batch; the loop checkpoints in
    `workdir`, resumes from it, stops on SIGTERM or a non-finite loss, and logs.
    """
    from rhovid.data.reading import streams  # imports TensorFlow

    sharding.check_divisible(config.batch_size, mesh)
    rep = sharding.replicated(mesh)
    jit_step = jax.jit(step_fn, donate_argnums=0, out_shardings=(rep, rep))

    def batches(start_step: int):
        return streams.make_supervised_source(
            config.data,
            config.data.train_split,
            global_batch_size=config.batch_size,
            seed=config.seed,
            start_step=start_step,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            color=color,
            multi_hot_classes=multi_hot_classes,
        )

    def to_device(batch: dict) -> dict:
        clips = np.asarray(batch["clips"])  # [B, 1, T, H, W, 3]
        return sharding.to_global({"clips": clips[:, 0], "label": np.asarray(batch["label"])}, mesh)

    program = loop.Program(
        state=state,
        step_fn=jit_step,
        batches=batches,
        to_device=to_device,
        total_steps=total_steps,
        examples_per_step=config.batch_size,
        description=description,
    )
    return loop.run(config, workdir, program).state


def is_multi_label(config: ml_collections.ConfigDict) -> bool:
    """`eval.multi_label`: sigmoid + binary cross-entropy, multi-hot targets, mAP (Charades)."""
    return bool(config.eval.get("multi_label", False))


def view_pooling(config: ml_collections.ConfigDict) -> str:
    """`eval.view_pooling`, by default "max" for multi-label and "mean" for single-label data."""
    return config.eval.get("view_pooling", "max" if is_multi_label(config) else "mean")


def evaluate(
    state: TrainState,
    predict_fn,
    config: ml_collections.ConfigDict,
    *,
    mesh: jax.sharding.Mesh,
    num_classes: int | None = None,
) -> dict[str, np.ndarray]:
    """Multi-view test on `data.eval_split`: {'scores' [N, C], 'features' [N, D], 'label' [N]}.

    Single-label: the softmax averaged over views. Multi-label (`eval.multi_label`, `num_classes`
    needed): the sigmoid pooled over views as `eval.view_pooling` says, `label` multi-hot [N, C].
    """
    multi_label = is_multi_label(config)
    batches = features_lib.eval_batches(
        config.data,
        config.data.eval_split,
        batch_size=config.eval.batch_size,
        num_clips=config.data.num_test_clips,
        num_crops=config.data.num_test_crops,
        multi_hot_classes=num_classes if multi_label else None,
    )
    out = multiview.run_views(
        lambda clips: predict_fn(state, clips),
        batches,
        functools.partial(sharding.to_global, mesh=mesh),
        max_examples=config.eval.max_eval_videos,
    )
    return {
        "scores": multiview.pool_view_scores(out["logits"], multi_label=multi_label, pooling=view_pooling(config)),
        "features": multiview.average_view_features(out["features"]),
        "label": out["label"],
    }


def split_data_config(
    data_cfg: ml_collections.ConfigDict, split: int | None, pattern: str
) -> ml_collections.ConfigDict:
    """The data config of official split `split`: `name` formatted with `pattern` (e.g. '{name}/{split}')."""
    d = ml_collections.ConfigDict(data_cfg.to_dict())
    if split is not None:
        d.name = pattern.format(name=data_cfg.name, split=split)
    return d


def run_split(
    config: ml_collections.ConfigDict,
    workdir: str,
    split: int | None,
    *,
    mesh: jax.sharding.Mesh,
    backbone: features_lib.Backbone,
    programs: dict | None = None,
) -> dict:
    """Fine-tunes and tests on one split; writes results into `workdir`.

    `programs` caches (optimiser, step, predict) functions between splits of one run, so that
    splits with the same number of steps reuse the compiled programs.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    config.data = split_data_config(config.data, split, config.eval.split_pattern)
    num_train = registry.num_examples(config.data, config.data.train_split)
    num_classes = registry.num_classes(config.data)
    total, per_epoch = num_train_steps(config, num_train)
    programs = {} if programs is None else programs
    multi_label = is_multi_label(config)
    key = (num_classes, total, per_epoch)
    if key not in programs:
        schedule = make_schedule(config, total, per_epoch)
        tx = optim.make_optimizer(config.optim, schedule)
        programs[key] = (
            tx,
            make_finetune_step(
                backbone.model, num_classes, tx, schedule, config.data, config.eval.dropout_rate, multi_label
            ),
            make_predict_fn(backbone.model, num_classes, config.data),
        )
    tx, step_fn, predict_fn = programs[key]
    state = create_state(
        backbone, backbone.model.num_features, num_classes, tx, trainable="all", seed=config.seed, mesh=mesh
    )
    logging.info("Fine-tuning on %s: %d videos, %d classes, %d steps.", config.data.name, num_train, num_classes, total)
    state = train(
        state,
        step_fn,
        config,
        workdir,
        mesh=mesh,
        total_steps=total,
        description=f"Fine-tuning on {config.data.name}, {total} steps",
        color=config.eval.color_augment,
        multi_hot_classes=num_classes if multi_label else None,
    )
    out = evaluate(state, predict_fn, config, mesh=mesh, num_classes=num_classes)
    return results_lib.finish_evaluation(
        workdir,
        config,
        backbone.pretrained,
        protocol="finetune",
        scores=out["scores"],
        labels=out["label"],
        test_features=out["features"],
        num_classes=num_classes,
        class_names=registry.class_names(config.data),
        split=split,
        extra={"steps": total, "epochs": total / per_epoch, "num_train": num_train}
        | ({"loss": "sigmoid_cross_entropy", "view_pooling": view_pooling(config)} if multi_label else {}),
    )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """The fine-tuning protocol (`task='finetune'`: `configs/eval/finetune.py`, `ssv2.py`, `charades.py`)."""
    multiview.check_view_pooling(view_pooling(config), multi_label=is_multi_label(config))  # before any work
    mesh = sharding.make_mesh()
    backbone = features_lib.load_backbone(config, mesh)
    splits = tuple(config.eval.splits) or (None,)
    if len(splits) == 1:
        return run_split(config, workdir, splits[0], mesh=mesh, backbone=backbone)
    programs: dict = {}
    records = {
        s: run_split(config, os.path.join(workdir, f"split_{s}"), s, mesh=mesh, backbone=backbone, programs=programs)
        for s in splits
    }
    return results_lib.combine_splits(workdir, config, backbone.pretrained, records, protocol="finetune")
