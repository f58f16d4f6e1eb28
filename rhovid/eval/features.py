"""The frozen backbone of an evaluation: loading pretrained weights and extracting features.

Every protocol starts the same way: build the backbone the pretraining run used, load its weights
(a rhovid pretraining workdir, latest or a given step, or an imported checkpoint), check that the
checkpoint really fits the model (a mismatch names the first differing parameter and both shapes,
instead of failing deep inside XLA), and run it in inference mode over evaluation views.

The architecture (depth, width) is taken from the pretraining run's config by default
(`config.eval.model_from_pretrained`), so `--config.pretrained=...` alone is enough; the eval
config's own `model` block still decides compute dtype and rematerialisation.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import traverse_util

from rhovid import checkpoint, sharding
from rhovid.data.reading import device_augment
from rhovid.errors import UserError
from rhovid.eval import multiview
from rhovid.models.resnet3d import build_backbone

# Model keys that define parameter shapes; copied from the pretraining run's config.
ARCHITECTURE_KEYS = ("arch", "depth", "width")
RANDOM_INIT = "random"


@dataclasses.dataclass
class Backbone:
    """A backbone ready for evaluation.

    Attributes:
      model: the flax module (ResNet3D).
      variables: {'params', 'batch_stats'}, replicated over the mesh.
      model_config: the model block actually used (architecture from the pretrained run).
      pretrained: the loaded `rhovid.checkpoint.Pretrained` (None for a random-init baseline).
    """

    model: Any
    variables: Any
    model_config: ml_collections.ConfigDict
    pretrained: Any | None

    @property
    def apply_fn(self) -> Callable[..., jax.Array]:
        return self.model.apply


def check_compatible(expected: Any, loaded: Any, *, what: str = "the pretrained checkpoint") -> None:
    """Raises if two variable trees differ in keys or shapes, naming the first difference.

    Args:
      expected: the tree the model wants (arrays or `jax.ShapeDtypeStruct`s), e.g. from
        `jax.eval_shape(model.init, ...)`.
      loaded: the tree read from the checkpoint.
      what: how to call `loaded` in the message.

    Raises:
      ValueError: naming the first parameter (in sorted path order) that is missing, unexpected, or
        of a different shape, with both shapes.
    """
    flat_expected = traverse_util.flatten_dict(_as_dict(expected), sep="/")
    flat_loaded = traverse_util.flatten_dict(_as_dict(loaded), sep="/")
    hint = (
        "The evaluation builds the backbone from the pretraining run's model config; if you "
        "override --config.model.depth/width, make them match the checkpoint."
    )
    for path in sorted(set(flat_expected) | set(flat_loaded)):
        if path not in flat_loaded:
            raise UserError(
                f"Parameter {path!r} (shape {tuple(np.shape(flat_expected[path]))}) of "
                f"the model is missing from {what}. {hint}"
            )
        if path not in flat_expected:
            raise UserError(
                f"{what[0].upper() + what[1:]} has parameter {path!r} (shape "
                f"{tuple(np.shape(flat_loaded[path]))}) that the model does not have. "
                f"{hint}"
            )
        want, got = tuple(np.shape(flat_expected[path])), tuple(np.shape(flat_loaded[path]))
        if want != got:
            raise UserError(f"Parameter {path!r} has shape {got} in {what} but {want} in the model. {hint}")


def _as_dict(tree: Any) -> dict:
    """Nested mapping (FrozenDict, dict) -> plain nested dict."""
    if hasattr(tree, "items"):
        return {k: _as_dict(v) for k, v in tree.items()}
    return tree


def _model_config(config: ml_collections.ConfigDict, pretrained: Any | None) -> ml_collections.ConfigDict:
    """config.model with the architecture keys taken from the pretrained run (when asked to)."""
    model_cfg = ml_collections.ConfigDict(config.model.to_dict())
    if pretrained is not None and config.eval.get("model_from_pretrained", True):
        source = pretrained.config.get("model", {}) if pretrained.config is not None else {}
        for key in ARCHITECTURE_KEYS:
            if key in source and source[key] != model_cfg[key]:
                logging.info(
                    "Backbone %s=%s from the pretrained run (eval config had %s).", key, source[key], model_cfg[key]
                )
                model_cfg[key] = source[key]
    return model_cfg


def load_backbone(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> Backbone:
    """Builds the backbone and loads `config.pretrained` (step `config.eval.pretrained_step`).

    `config.pretrained = "random"` gives a randomly initialised backbone (a baseline row).

    Raises:
      ValueError: if no pretrained path is given, or the checkpoint does not fit the model.
    """
    if not config.pretrained:
        raise UserError(
            "config.pretrained is empty: pass --config.pretrained=<pretraining workdir or "
            f"imported checkpoint dir> (or {RANDOM_INIT!r} for a random-init baseline)."
        )
    pretrained = None
    if config.pretrained != RANDOM_INIT:
        step = config.eval.get("pretrained_step", 0) or None
        pretrained = checkpoint.load_pretrained(config.pretrained, step=step)
        logging.info("Loaded pretrained backbone from %s (step %s).", config.pretrained, pretrained.step)
    model_cfg = _model_config(config, pretrained)
    model = build_backbone(model_cfg)
    d = config.data
    dummy = jnp.zeros((1, d.num_frames, d.crop_size, d.crop_size, 3), jnp.float32)
    init = functools.partial(model.init, train=False)
    if pretrained is None:
        variables = jax.jit(init)(jax.random.key(config.seed), dummy)
    else:
        expected = jax.eval_shape(init, jax.random.key(0), dummy)
        variables = {"params": pretrained.params, "batch_stats": pretrained.batch_stats}
        check_compatible(expected, variables)
    variables = jax.device_put(_as_dict(variables), sharding.replicated(mesh))
    return Backbone(model=model, variables=variables, model_config=model_cfg, pretrained=pretrained)


def make_feature_fn(
    apply_fn: Callable[..., jax.Array], data_cfg: ml_collections.ConfigDict
) -> Callable[[Any, jax.Array], dict[str, jax.Array]]:
    """A jitted `fn(variables, clips_uint8 [N, T, H, W, 3]) -> {'features': [N, D] float32}`.

    BN runs in inference mode (running statistics); the output keeps the input's batch sharding.
    """

    @jax.jit
    def feature_fn(variables: Any, clips: jax.Array) -> dict[str, jax.Array]:
        x = device_augment.normalize(clips, data_cfg)  # [N, T, H, W, 3] float32
        return {"features": apply_fn(variables, x, train=False).astype(jnp.float32)}  # [N, D]

    return feature_fn


class SplitFeatures(NamedTuple):
    """Per-view features of one split: features [N, V, D] float32, labels [N] int."""

    features: np.ndarray
    labels: np.ndarray


def eval_batches(
    data_cfg: ml_collections.ConfigDict,
    split: str,
    *,
    batch_size: int,
    num_clips: int,
    num_crops: int,
    label_keys: tuple[str, ...] | None = None,
    multi_hot_classes: int | None = None,
):
    """This host's part of the multi-view evaluation source (every example once, padded, masked).

    With `multi_hot_classes` = C the labels are multi-hot float32 [B, C] targets (multi-label data).
    """
    if batch_size % jax.process_count():
        raise UserError(
            f"Eval batch size {batch_size} is not divisible by the {jax.process_count()} "
            "processes; choose a multiple of the device count."
        )
    from rhovid.data.reading import streams  # imports TensorFlow

    return streams.make_eval_source(
        data_cfg,
        split,
        batch_size=batch_size // jax.process_count(),
        num_clips=num_clips,
        num_crops=num_crops,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        label_keys=label_keys,
        multi_hot_classes=multi_hot_classes,
    )


def extract_split_features(
    feature_fn: Callable[[Any, jax.Array], dict[str, jax.Array]],
    variables: Any,
    data_cfg: ml_collections.ConfigDict,
    split: str,
    *,
    mesh: jax.sharding.Mesh,
    batch_size: int,
    num_clips: int,
    num_crops: int,
    max_examples: int = 0,
) -> SplitFeatures:
    """Backbone features of every view of every video of `split`.

    Args:
      feature_fn: from `make_feature_fn`.
      variables: the backbone variables (replicated).
      data_cfg: `config.data`.
      split: a split name of the dataset (e.g. "train", "validation", "test").
      mesh: the device mesh.
      batch_size: global videos per batch; batch_size·num_clips·num_crops views run at once.
      num_clips, num_crops: views per video (K temporal × S spatial).
      max_examples: stop after this many videos (0 = the whole split).

    Returns:
      SplitFeatures(features [N, K·S, D], labels [N]).
    """
    batches = eval_batches(data_cfg, split, batch_size=batch_size, num_clips=num_clips, num_crops=num_crops)
    out = multiview.run_views(
        lambda clips: feature_fn(variables, clips),
        batches,
        functools.partial(sharding.to_global, mesh=mesh),
        max_examples=max_examples,
    )
    return SplitFeatures(out["features"], out["label"].astype(np.int64))


def train_and_test_features(
    config: ml_collections.ConfigDict, backbone: Backbone, mesh: jax.sharding.Mesh
) -> tuple[SplitFeatures, SplitFeatures]:
    """Frozen-backbone features of the train split and of the eval split, for kNN and the fast probe.

    Train videos give `eval.train_clips × eval.train_crops` views (capped at `eval.max_train_videos`),
    test videos the protocol's `data.num_test_clips × data.num_test_crops` (capped at
    `eval.max_eval_videos`).
    """
    feature_fn = make_feature_fn(backbone.apply_fn, config.data)
    extract = functools.partial(
        extract_split_features, feature_fn, backbone.variables, config.data, mesh=mesh,
        batch_size=config.eval.batch_size,
    )  # fmt: skip
    train = extract(config.data.train_split, num_clips=config.eval.train_clips,
                    num_crops=config.eval.train_crops, max_examples=config.eval.max_train_videos)  # fmt: skip
    test = extract(config.data.eval_split, num_clips=config.data.num_test_clips,
                   num_crops=config.data.num_test_crops, max_examples=config.eval.max_eval_videos)  # fmt: skip
    return train, test
