"""ρSwAV (paper eq. 3): predict one view's Sinkhorn codes from another view's prototype scores.

Each view i gets codes q_i = Sinkhorn(scores_i / ε) over the global batch (3 iterations, ε = 0.05,
no gradient); each other view j predicts them with softmax(scores_j / τ), τ = 0.1. The loss is the
cross-entropy averaged over ordered pairs (i, j ≠ i): multi-crop SwAV's swapped prediction,
which is the paper's eq. 3 for every `loss_form` but `official`. `official` is PySlowFast's: codes
from views 0 and 1 only, each predicted by every other view (mean over the V − 1), then the mean
over the two coded views. Prototypes (1000) are frozen for the first
epoch and re-normalised after every update (the train step does both). An optional queue of past
embeddings enlarges the batch Sinkhorn sees once training is past `queue_start_epoch`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rhovid.methods.base import Outputs, State, StepInfo, check_loss_form, off_diagonal_mean
from rhovid.models.heads import l2_normalize


def sinkhorn(scores: jax.Array, epsilon: float, num_iters: int) -> jax.Array:
    """Equal-partition soft assignments (SwAV's Sinkhorn-Knopp).

    Args:
      scores: [N, K] prototype scores of N samples.
      epsilon: entropic regularisation; assignments ∝ exp(scores / ε).
      num_iters: alternating normalisations (each = prototypes, then samples).

    Returns:
      [N, K] codes: each row sums to 1; columns sum to about N / K.
    """
    n, k = scores.shape
    log_q = scores.astype(jnp.float32) / epsilon
    log_q = log_q - jax.nn.logsumexp(log_q)  # total mass 1
    for _ in range(num_iters):
        log_q = log_q - jax.nn.logsumexp(log_q, axis=0, keepdims=True) - jnp.log(k)  # columns: 1/K
        log_q = log_q - jax.nn.logsumexp(log_q, axis=1, keepdims=True) - jnp.log(n)  # rows: 1/N
    return jnp.exp(log_q) * n


def swav_pair_losses(scores: jax.Array, codes: jax.Array, temperature: float) -> jax.Array:
    """[B, V, K] scores and [B, V, K] codes -> [V, V] CE of codes of view i vs scores of view j."""
    log_p = jax.nn.log_softmax(scores / temperature, axis=-1)  # [B, V, K]
    return -jnp.einsum("bik,bjk->ij", codes, log_p) / scores.shape[0]


@dataclasses.dataclass(frozen=True)
class SwAV:
    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iters: int = 3
    queue_size: int = 0
    queue_start_epoch: float = 15.0
    loss_form: str = "paper"
    uses_target: bool = False

    def __post_init__(self):
        check_loss_form(self.loss_form)

    def init_state(self, rng, embed_dim, num_views, batch_size) -> State:
        if not self.queue_size:
            return {}
        return {"queue": jnp.zeros((num_views, self.queue_size, embed_dim), jnp.float32)}

    def _codes(self, scores: jax.Array, queue_scores: jax.Array | None, use_queue) -> jax.Array:
        """[B, V, K] codes, per view; with the queue, Sinkhorn also sees the queued samples."""
        b, v, _ = scores.shape
        codes = []
        for i in range(v):
            plain = sinkhorn(scores[:, i], self.epsilon, self.sinkhorn_iters)
            if queue_scores is not None:
                both = jnp.concatenate([scores[:, i], queue_scores[i]], axis=0)
                queued = sinkhorn(both, self.epsilon, self.sinkhorn_iters)[:b]
                plain = jnp.where(use_queue, queued, plain)
            codes.append(plain)
        return jnp.stack(codes, axis=1)

    def __call__(self, online: Outputs, target: None, state: State, info: StepInfo):
        scores = online["scores"]  # [B, V, K]
        b, v, _ = scores.shape
        queue_scores, use_queue, new_state = None, False, state
        if self.queue_size:
            protos = jax.lax.stop_gradient(online["prototypes"])  # [K, d]
            queue_scores = jnp.einsum("vqd,kd->vqk", state["queue"], protos)
            use_queue = info.step >= int(self.queue_start_epoch * info.steps_per_epoch)
            z = jax.lax.stop_gradient(l2_normalize(online["embedding"]))  # [B, V, d]
            queue = jnp.concatenate([z.transpose(1, 0, 2), state["queue"][:, :-b]], axis=1)
            new_state = {"queue": queue}
        codes = jax.lax.stop_gradient(self._codes(jax.lax.stop_gradient(scores), queue_scores, use_queue))
        pair = swav_pair_losses(scores, codes, self.temperature)  # [V, V]
        if self.loss_form == "official":  # codes from views 0 and 1 only
            coded = min(v, 2)
            loss = sum((pair[i].sum() - pair[i, i]) / (v - 1) for i in range(coded)) / coded
        else:
            loss = off_diagonal_mean(pair)
        entropy = -(codes * jnp.log(jnp.clip(codes, 1e-12))).sum(-1).mean()
        used = jax.nn.one_hot(codes.argmax(-1), codes.shape[-1]).max(axis=(0, 1))  # [K]
        usage = used.mean()  # fraction of prototypes that are some clip's top assignment
        metrics = {"swav/code_entropy": entropy, "swav/prototype_usage": usage}
        return loss, metrics, new_state
