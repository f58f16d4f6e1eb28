"""Memory-flat ρ: encode the V views in chunks and get the gradients of one pass (gradient caching).

ρSimCLR's and ρSwAV's losses couple every clip of the batch (negatives, Sinkhorn), so the plain
step keeps the activations of all B·V clips alive for the backward pass: memory grows linearly
with ρ. Gradient caching (GradCache, Gao et al. 2021) makes it flat:

  1. forward each chunk of k views (B·k clips) without differentiating it, keeping only the
     per-clip outputs the objective reads (features, embedding, scores: a few KB per clip);
  2. differentiate the loss w.r.t. those outputs only (cheap: no network in between);
  3. for each chunk, recompute its forward under `jax.vjp` and pull the cached output
     gradients back into parameter gradients, summing over chunks.

Both loops are `jax.lax.scan`s, so XLA runs the chunks one after another and the peak holds one
chunk's activations, not V/k of them. The price is one extra forward pass (about a third more
compute). By the chain rule the result is exactly the gradient of the loss of the stacked
outputs, provided each chunk's forward is a function of that chunk alone.

BatchNorm is the one thing that could break that: BN statistics are computed over groups of clips.
With the default grouping (`model.bn_mix_views=False`: every BN group holds clips of one view, as
the official code's one-view-per-pass encoders do) a chunk of whole views holds whole BN groups,
so the chunked step computes exactly the statistics and gradients of the plain step
(tests/test_memory_flat.py). With `bn_mix_views=True` (groups mixing the views of a video) the
statistics become those of each chunk of views instead. Running statistics are the mean of the
chunks' updates, which equals BatchNorm's own update with one group per chunk (it averages the
groups' means and unbiased variances).

Layout: chunk c holds views [c·k, (c+1)·k) of every video, B-major inside the chunk, so a
batch sharded on videos stays sharded on videos inside every chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp


def to_chunks(x: jax.Array, b: int, v: int, k: int) -> jax.Array:
    """B-major clips [B·V, ...] -> chunks of k views [V/k, B·k, ...] (chunk c = views c·k..c·k+k−1)."""
    c = v // k
    x = x.reshape((b, c, k) + x.shape[1:])  # [B, C, k, ...]
    x = jnp.swapaxes(x, 0, 1)  # [C, B, k, ...]
    return x.reshape((c, b * k) + x.shape[3:])


def from_chunks(out: dict, b: int, k: int, per_clip_keys: Sequence[str]) -> dict:
    """Stacked chunk outputs -> the objective's views: per-clip [C, B·k, ...] -> [B, V, ...].

    Outputs that are not per clip (SwAV's prototypes, the same in every chunk) are taken from
    chunk 0, so their gradient flows back through chunk 0's recomputation only.
    """
    views = {}
    for key, x in out.items():
        if key in per_clip_keys:
            c = x.shape[0]
            x = x.reshape((c, b, k) + x.shape[2:])  # [C, B, k, ...]
            views[key] = jnp.swapaxes(x, 0, 1).reshape((b, c * k) + x.shape[3:])  # [B, V, ...]
        else:
            views[key] = x[0]
    return views


def value_and_grad(
    forward: Callable[[Any, jax.Array], tuple[dict, Any]],
    loss_fn: Callable[[dict], tuple[jax.Array, Any]],
    params: Any,
    chunks: jax.Array,
) -> tuple[tuple[jax.Array, Any, Any], Any]:
    """The loss of all chunks' outputs and its parameter gradient, one chunk's activations at a time.

    Args:
      forward: (params, x [B·k, ...]) -> (outputs dict, side output). Side outputs (e.g. new BN
        statistics) are not differentiated; they come back stacked over chunks.
      loss_fn: stacked outputs {key: [C, ...]} -> (scalar loss, aux).
      params: what the gradient is taken with respect to.
      chunks: [C, B·k, ...] network inputs, one chunk per leading index.

    Returns:
      ((loss, aux, side outputs stacked [C, ...]), gradient with the structure of `params`).
    """
    # 1. Outputs of every chunk, nothing kept for a backward pass: [C, ...] per key.
    outs, side = jax.lax.map(lambda x: forward(params, x), chunks)
    outs = jax.lax.stop_gradient(outs)
    # 2. The loss and its gradient w.r.t. the (small) outputs: the cached gradients.
    (loss, aux), d_outs = jax.value_and_grad(loss_fn, has_aux=True)(outs)

    # 3. Recompute each chunk under vjp and pull its cached output gradients back to the params.
    def pull_back(acc, chunk):
        x, d_out = chunk
        _, vjp = jax.vjp(lambda p: forward(p, x)[0], params)
        (g,) = vjp(d_out)
        return jax.tree.map(jnp.add, acc, g), None

    zeros = jax.tree.map(jnp.zeros_like, params)
    grads, _ = jax.lax.scan(pull_back, zeros, (chunks, d_outs))
    return (loss, aux, side), grads
