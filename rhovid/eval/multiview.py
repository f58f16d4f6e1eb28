"""Multi-view testing shared by every protocol: K temporal clips × S spatial crops per video.

The paper tests with 10 clips × 3 crops of 256² (short side 256) and averages the softmax scores
of the 30 views (docs/method.md §5); multi-label Charades takes the max of the sigmoid scores over
the views instead (`pool_view_scores`); the fast probe averages backbone features over the same views. The
reader (`rhovid.data.reading.streams.make_eval_source`) yields `clips [B, K·S, T, H, W, 3]` with a `mask`
marking padding rows, so that every host runs the same number of batches and every example is seen
exactly once. `run_views` flattens the views into the batch, runs one jitted function over the
global batch, drops padding and returns per-example, per-view outputs; the averaging functions then
reduce the view axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from rhovid.errors import UserError
from rhovid.eval import metrics as metrics_lib


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in NumPy (float64 accumulation)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def average_view_probabilities(logits: np.ndarray) -> np.ndarray:
    """The paper's multi-view score: the mean over views of each view's softmax.

    Args:
      logits: [N, V, C] per-view logits.

    Returns:
      [N, C] float64 probabilities (each row sums to 1).
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"Expected per-view logits [N, V, C]; got shape {logits.shape}.")
    return softmax(logits, axis=-1).mean(axis=1)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function in NumPy (float64): the per-class multi-label score."""
    z = np.asarray(logits, np.float64)
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def max_view_sigmoid(logits: np.ndarray) -> np.ndarray:
    """The multi-label (Charades) multi-view score: each class's highest sigmoid over the views.

    Args:
      logits: [N, V, C] per-view logits.

    Returns:
      [N, C] float64 scores in (0, 1) (the spatio-temporal max pooling of PySlowFast's test).
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"Expected per-view logits [N, V, C]; got shape {logits.shape}.")
    return metrics_lib.max_over_views(sigmoid(logits))


def pool_view_scores(logits: np.ndarray, *, multi_label: bool, pooling: str) -> np.ndarray:
    """[N, V, C] per-view logits -> [N, C] video scores, as `eval.multi_label` / `eval.view_pooling` say.

    Single-label: softmax per view, averaged ("mean"; the paper). Multi-label: sigmoid per view,
    max-pooled ("max"; the paper's Charades test) or averaged ("mean").
    """
    check_view_pooling(pooling, multi_label=multi_label)
    if not multi_label:
        return average_view_probabilities(logits)
    return max_view_sigmoid(logits) if pooling == "max" else sigmoid(logits).mean(axis=1)


def check_view_pooling(pooling: str, *, multi_label: bool) -> None:
    """Raises a one-line UserError unless `pooling` is one `pool_view_scores` implements."""
    if multi_label and pooling not in ("max", "mean"):
        raise UserError(f"eval.view_pooling={pooling!r}; use 'max' or 'mean'.")
    if not multi_label and pooling != "mean":
        raise UserError(f"eval.view_pooling={pooling!r} with single-label data: use 'mean' (softmax averaged).")


def average_view_features(features: np.ndarray) -> np.ndarray:
    """[N, V, D] -> [N, D]: the mean feature over views (used by the fast probe and kNN)."""
    features = np.asarray(features)
    if features.ndim != 3:
        raise ValueError(f"Expected per-view features [N, V, D]; got shape {features.shape}.")
    return features.mean(axis=1)


def _gather(x: jax.Array | np.ndarray) -> np.ndarray:
    """A global array (or host-local NumPy array) as one NumPy array on every host."""
    if jax.process_count() == 1:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def run_views(
    fn: Callable[[jax.Array], dict[str, jax.Array]],
    batches: Iterable[dict[str, np.ndarray]],
    to_global: Callable[[np.ndarray], jax.Array],
    *,
    max_examples: int = 0,
    log_every: int = 50,
) -> dict[str, np.ndarray]:
    """Runs `fn` over every view of every example and returns per-example, per-view outputs.

    Args:
      fn: maps the global uint8 clips [B·V, T, H, W, 3] (sharded on the leading axis) to a dict of
        arrays with leading axis B·V (e.g. `{'features': [B·V, D], 'logits': [B·V, C]}`).
      batches: host-local dicts with `clips` uint8 [B, V, T, H, W, 3], `label` int [B] or multi-hot
        float [B, C] (or a dict of such labels, as `make_eval_source(..., label_keys=...)` yields)
        and optionally `mask` bool [B] (False for padding rows).
      to_global: host-local NumPy array -> global jax.Array sharded on the leading axis
        (`functools.partial(rhovid.sharding.to_global, mesh=mesh)`).
      max_examples: stop once this many real (unmasked) examples were gathered; 0 = all.
      log_every: log progress every this many batches.

    Returns:
      dict with each output of `fn` reshaped to [N, V, ...] (NumPy), plus `label` [N] or [N, C] (or a
      dict of such arrays); N counts real examples over all hosts, in batch order.
    """
    outputs: dict[str, list[np.ndarray]] = {}
    labels: list = []
    seen = 0
    for i, batch in enumerate(batches):
        clips = np.asarray(batch["clips"])  # [B, V, T, H, W, 3]
        if clips.ndim != 6:
            raise ValueError(f"Expected eval clips [B, V, T, H, W, 3]; got shape {clips.shape}.")
        b, v = clips.shape[:2]
        mask = np.asarray(batch.get("mask", np.ones([b], bool)))  # [B]
        out = fn(to_global(clips.reshape((b * v,) + clips.shape[2:])))  # each [B·V, ...] global
        host_mask = _gather(mask)  # [B_global]
        label = batch["label"]
        if isinstance(label, dict):
            host_labels = {k: _gather(np.asarray(x))[host_mask] for k, x in label.items()}
        else:
            host_labels = _gather(np.asarray(label))[host_mask]  # [b_real]
        for key, value in out.items():
            value = _gather(value)  # [B_global·V, ...]
            value = value.reshape((-1, v) + value.shape[1:])[host_mask]  # [b_real, V, ...]
            outputs.setdefault(key, []).append(value)
        labels.append(host_labels)
        seen += int(host_mask.sum())
        if log_every and (i + 1) % log_every == 0:
            logging.info("Multi-view evaluation: %d batches, %d examples.", i + 1, seen)
        if max_examples and seen >= max_examples:
            break
    if not labels:
        raise UserError("The evaluation source yielded no batches; check the split name and data_dir.")
    result = {key: np.concatenate(values) for key, values in outputs.items()}
    if isinstance(labels[0], dict):
        result["label"] = {k: np.concatenate([x[k] for x in labels]) for k in labels[0]}
    else:
        result["label"] = np.concatenate(labels)
    if max_examples:
        result = {
            key: (
                value[:max_examples]
                if key != "label" or not isinstance(value, dict)
                else {k: x[:max_examples] for k, x in value.items()}
            )
            for key, value in result.items()
        }
    return result
