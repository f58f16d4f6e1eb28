"""Linear probing of a frozen backbone: the paper's protocol and a fast path.

Paper protocol (`task='linear'`): only a linear classifier on the 2048-d pooled
features trains; the backbone is frozen with BN in inference mode (running statistics). SGD with
momentum 0.9, lr 4.0 at batch 512 scaled linearly, 8 warmup epochs then half-cosine, wd 0,
60 epochs; training clips get the short-side jitter [256, 320] + 224 crop and a flip, no colour.
Test: 10 clips × 3 crops, softmax averaged. The backbone forward is not differentiated: gradients
are taken with respect to the head only, on `stop_gradient` features.

The official code leaves `MODEL.FROZEN_BN` False, so its BN running statistics drift (and batch
statistics normalise training features) during linear training; that
behaviour is `eval.bn_stats_drift=True`, off by default.

Fast path (`eval.fast=True`, reported as protocol `linear_fast`): extract view-averaged features
once and fit an L2-regularised multinomial logistic regression (`probe.py`) in seconds.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import ml_collections
import optax
from absl import logging

from rhovid import optim, sharding
from rhovid.data import registry
from rhovid.data.reading import device_augment
from rhovid.eval import features as features_lib
from rhovid.eval import finetune, probe
from rhovid.eval import results as results_lib
from rhovid.state import TrainState


def make_linear_step(
    model: nn.Module,
    num_classes: int,
    tx: optax.GradientTransformation,
    lr_schedule: optax.Schedule,
    data_cfg: ml_collections.ConfigDict,
    bn_stats_drift: bool = False,
) -> finetune.StepFn:
    """A train step for the head alone on frozen backbone features.

    Args:
      model: the backbone module.
      num_classes: C.
      tx: optimiser over the head params (its state covers `params['head']` only).
      lr_schedule: for logging the learning rate.
      data_cfg: `config.data` (normalisation).
      bn_stats_drift: run the backbone's BN in training mode (batch statistics, running averages
        updated) like the official code; default: inference mode, statistics untouched.

    Returns:
      step(state, batch) -> (state, metrics) with batch {'clips' uint8 [B, T, H, W, 3], 'label' [B]}.
    """
    head = finetune.make_head(num_classes)

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        x = device_augment.normalize(batch["clips"], data_cfg)  # [B, T, H, W, 3]
        variables = {"params": state.params["backbone"], "batch_stats": state.batch_stats}
        if bn_stats_drift:
            feats, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
            batch_stats = updates["batch_stats"]
        else:
            feats, batch_stats = model.apply(variables, x, train=False), state.batch_stats
        feats = jax.lax.stop_gradient(feats)  # [B, D]

        def loss_fn(head_params):
            logits = head.apply({"params": head_params}, feats)  # [B, C]
            return finetune.cross_entropy(logits, batch["label"])

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["head"])
        updates, opt_state = tx.update(grads, state.opt_state, state.params["head"])
        params = {"backbone": state.params["backbone"], "head": optax.apply_updates(state.params["head"], updates)}
        state = dataclasses.replace(
            state, step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
        )
        return state, {
            "loss": loss,
            "train_top1": acc,
            "lr": lr_schedule(state.step - 1),
            "grad_norm": optax.tree_utils.tree_norm(grads),
        }

    return train_step


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """The linear probe (`task='linear'`, `configs/eval/linear.py`); `eval.fast` picks the fast path."""
    if config.eval.fast:
        return run_fast(config, workdir)
    mesh = sharding.make_mesh()
    backbone = features_lib.load_backbone(config, mesh)
    num_train = registry.num_examples(config.data, config.data.train_split)
    num_classes = registry.num_classes(config.data)
    total, per_epoch = finetune.num_train_steps(config, num_train)
    schedule = finetune.make_schedule(config, total, per_epoch)
    tx = optim.make_optimizer(config.optim, schedule)
    state = finetune.create_state(
        backbone, backbone.model.num_features, num_classes, tx, trainable="head", seed=config.seed, mesh=mesh
    )
    step_fn = make_linear_step(backbone.model, num_classes, tx, schedule, config.data, config.eval.bn_stats_drift)
    logging.info(
        "Linear probe on %s: %d videos, %d classes, %d steps (peak lr %.3g).",
        config.data.name,
        num_train,
        num_classes,
        total,
        optim.peak_learning_rate(config.optim, config.batch_size),
    )
    state = finetune.train(
        state,
        step_fn,
        config,
        workdir,
        mesh=mesh,
        total_steps=total,
        description=f"Linear probe on {config.data.name}, {total} steps",
    )
    out = finetune.evaluate(
        state, finetune.make_predict_fn(backbone.model, num_classes, config.data), config, mesh=mesh
    )
    return results_lib.finish_evaluation(
        workdir,
        config,
        backbone.pretrained,
        protocol="linear",
        scores=out["scores"],
        labels=out["label"],
        test_features=out["features"],
        num_classes=num_classes,
        class_names=registry.class_names(config.data),
        extra={
            "steps": total,
            "epochs": total / per_epoch,
            "num_train": num_train,
            "bn_stats_drift": config.eval.bn_stats_drift,
        },
    )


def run_fast(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Fast probe: features once (view-averaged), logistic regression, multi-view test features."""
    mesh = sharding.make_mesh()
    backbone = features_lib.load_backbone(config, mesh)
    train, test = features_lib.train_and_test_features(config, backbone, mesh)
    num_classes = registry.num_classes(config.data)
    fitted = probe.fit_logistic_probe(
        train.features.mean(1),
        train.labels,
        num_classes=num_classes,
        l2_grid=tuple(config.eval.l2_grid),
        held_out_fraction=config.eval.held_out_fraction,
        solver=config.eval.solver,
        seed=config.seed,
        name=f"{config.data.label_key}, {config.pretrained}",
    )
    test_feats = test.features.mean(1)  # [N, D]
    return results_lib.finish_evaluation(
        workdir,
        config,
        backbone.pretrained,
        protocol="linear_fast",
        scores=fitted.predict_proba(test_feats),
        labels=test.labels,
        test_features=test_feats,
        num_classes=num_classes,
        class_names=registry.class_names(config.data),
        extra={
            "l2": fitted.l2,
            "held_out_top1": {str(k): v for k, v in fitted.val_accuracy.items()},
            "solver": config.eval.solver,
            "num_train": int(len(train.labels)),
            "train_views": config.eval.train_clips * config.eval.train_crops,
        },
    )
