"""Weighted k-nearest-neighbour classification on frozen backbone features.

This is what the official code logs as the SSL "top-1 error" during pretraining:
every validation clip votes with its k = 200 most similar training clips, each vote
weighted by exp(cos_sim / T) (InstDisc's rule). rhovid logs it under `knn/top1` and `knn/top5`
so the name says what it is, and offers it as a standalone protocol too.

Three entry points:
  * `knn_predict`: the pure classifier, in JAX, chunked over test queries so that memory is
    bounded by `chunk_size × num_train` similarities whatever the test-set size.
  * `knn_monitor`: called by the pretraining loop every `config.knn.every_steps` steps; extracts
    features of (a subset of) the train split and the eval split and returns the metrics.
  * `run(config, workdir)`: the `task='knn'` protocol (`configs/eval/knn.py`), with multi-view
    test features, per-class accuracy, plots and results.json.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from rhovid import sharding
from rhovid.data import registry
from rhovid.eval import features as features_lib
from rhovid.eval import metrics as metrics_lib
from rhovid.eval import results as results_lib


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Rows of `x` divided by their L2 norm (rows of zeros stay zero)."""
    norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True))
    return x / jnp.maximum(norm, eps)


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def _knn_chunk(
    bank: jax.Array,
    bank_labels: jax.Array,
    queries: jax.Array,
    k: int,
    temperature: float,
    num_classes: int,
) -> jax.Array:
    """Votes of one chunk of queries. bank [N, D] and queries [Q, D] are L2-normalised."""
    sims = jnp.matmul(queries, bank.T, precision=jax.lax.Precision.HIGHEST)  # [Q, N]
    top_sims, top_idx = jax.lax.top_k(sims, k)  # [Q, k]
    weights = jnp.exp(top_sims / temperature)  # [Q, k]
    onehot = jax.nn.one_hot(bank_labels[top_idx], num_classes, dtype=weights.dtype)  # [Q, k, C]
    return jnp.einsum("qk,qkc->qc", weights, onehot)  # [Q, C]


def knn_predict(
    train_feats: np.ndarray | jax.Array,
    train_labels: np.ndarray | jax.Array,
    test_feats: np.ndarray | jax.Array,
    k: int = 200,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 256,
) -> np.ndarray:
    """Weighted kNN class scores: sum over the k nearest neighbours of exp(cos_sim / T).

    Features are L2-normalised here (cosine similarity), so callers may pass raw features.

    Args:
      train_feats: [N, D] feature bank.
      train_labels: [N] integer labels of the bank.
      test_feats: [M, D] query features.
      k: neighbours per query; clipped to N.
      temperature: T of the exp(sim / T) weights.
      num_classes: C; defaults to max(train_labels) + 1.
      chunk_size: queries per jitted call; the last chunk is zero-padded so one shape compiles.

    Returns:
      [M, C] float32 NumPy votes; argmax is the prediction, the ranking gives top-5.
    """
    train_labels = jnp.asarray(train_labels, jnp.int32)
    if train_feats.shape[0] != train_labels.shape[0] or train_feats.shape[0] == 0:
        raise ValueError(
            f"kNN needs a non-empty bank with one label per feature; got {train_feats.shape[0]} "
            f"features and {train_labels.shape[0]} labels."
        )
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f"Feature widths differ: bank {train_feats.shape}, queries {test_feats.shape}.")
    num_classes = int(num_classes or int(jnp.max(train_labels)) + 1)
    k = min(int(k), int(train_feats.shape[0]))
    bank = l2_normalize(jnp.asarray(train_feats, jnp.float32))  # [N, D]
    test = np.asarray(test_feats, np.float32)  # [M, D]
    votes = []
    for start in range(0, test.shape[0], chunk_size):
        chunk = test[start : start + chunk_size]  # [q, D]
        padded = np.zeros((chunk_size, test.shape[1]), np.float32)
        padded[: len(chunk)] = chunk
        out = _knn_chunk(
            bank, train_labels, l2_normalize(jnp.asarray(padded)), k, float(temperature), num_classes
        )  # [chunk_size, C]
        votes.append(np.asarray(out)[: len(chunk)])
    if not votes:
        return np.zeros((0, num_classes), np.float32)
    return np.concatenate(votes)


def knn_monitor(
    apply_fn: Callable[..., jax.Array],
    variables: Any,
    data_cfg: ml_collections.ConfigDict,
    *,
    mesh: jax.sharding.Mesh,
    batch_size: int,
    k: int = 200,
    temperature: float = 0.07,
    max_train_videos: int = 0,
    max_eval_videos: int = 0,
    num_classes: int | None = None,
) -> dict[str, float]:
    """The online kNN monitor: top-1/top-5 of a kNN classifier on current backbone features.

    One centre clip per video (train bank and eval queries), BN in inference mode. The bank is the
    train split (`data_cfg.train_split`) read in order, so its size comes from the data; cap it with
    `max_train_videos` to keep the monitor cheap.

    Args:
      apply_fn: the backbone's apply, called as `apply_fn(variables, x, train=False)` on normalised
        float32 clips [N, T, H, W, 3] and returning features [N, D].
      variables: its variables ({'params', 'batch_stats'}), replicated on `mesh`.
      data_cfg: `config.data` (names the dataset, splits, frames, crop and normalisation).
      mesh: the device mesh; batches are sharded on its data axis.
      batch_size: global number of videos per feature batch (divisible by the device count).
      k, temperature: the kNN rule.
      max_train_videos, max_eval_videos: caps on the bank and the queries (0 = whole split).
      num_classes: C; defaults to the largest label seen + 1.

    Returns:
      {'knn/top1': float, 'knn/top5': float, 'knn/bank_size': float} (fractions).
    """
    feature_fn = features_lib.make_feature_fn(apply_fn, data_cfg)
    extract = functools.partial(
        features_lib.extract_split_features,
        feature_fn,
        variables,
        data_cfg,
        mesh=mesh,
        batch_size=batch_size,
        num_clips=1,
        num_crops=1,
    )
    bank = extract(data_cfg.train_split, max_examples=max_train_videos)
    test = extract(data_cfg.eval_split, max_examples=max_eval_videos)
    c = num_classes or int(max(bank.labels.max(), test.labels.max())) + 1
    votes = knn_predict(bank.features.mean(1), bank.labels, test.features.mean(1), k, temperature, c)
    return {
        "knn/top1": metrics_lib.topk_accuracy(votes, test.labels, 1),
        "knn/top5": metrics_lib.topk_accuracy(votes, test.labels, 5),
        "knn/bank_size": float(len(bank.labels)),
    }


evaluate = knn_monitor  # the name the pretraining loop calls


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """The kNN protocol (`task='knn'`): bank = train split, queries = multi-view test features.

    Args:
      config: an eval config (`configs/eval/knn.py`).
      workdir: where results.json, results.md and the plots go.

    Returns:
      the results record written to results.json.
    """
    mesh = sharding.make_mesh()
    backbone = features_lib.load_backbone(config, mesh)
    bank, test = features_lib.train_and_test_features(config, backbone, mesh)
    num_classes = registry.num_classes(config.data)
    logging.info("kNN: bank %s, queries %s, %d classes.", bank.features.shape, test.features.shape, num_classes)
    votes = knn_predict(
        bank.features.mean(1), bank.labels, test.features.mean(1), config.eval.k, config.eval.temperature, num_classes
    )
    scores = votes / np.maximum(votes.sum(1, keepdims=True), 1e-12)  # [M, C] vote shares
    return results_lib.finish_evaluation(
        workdir,
        config,
        backbone.pretrained,
        protocol="knn",
        scores=scores,
        labels=test.labels,
        test_features=test.features.mean(1),
        num_classes=num_classes,
        class_names=registry.class_names(config.data),
        extra={"k": config.eval.k, "temperature": config.eval.temperature, "bank_size": int(len(bank.labels))},
    )
