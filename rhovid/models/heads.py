"""Heads on top of the pooled backbone features.

MLP          projection (all methods) and BYOL's predictor: Linear -> [BN] -> ReLU, repeated,
             then a final Linear (no BN, no ReLU). Linears use PySlowFast's `c2_xavier_fill`
             (fvcore: kaiming_uniform with a = 1, i.e. U(±√(3/fan_in)), zero bias); the hidden
             linears drop their bias when followed by BN.
Prototypes   SwAV's 1000 prototype vectors (a bias-free linear map whose rows are kept
             L2-normalised by the train step after every update).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rhovid.models.layers import BatchNorm

# fvcore's c2_xavier_fill: kaiming_uniform_(w, a=1): gain √(2/(1+a²)) = 1, bound gain·√(3/fan_in).
c2_xavier_fill = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")


class MLP(nn.Module):
    """`hidden_dims` hidden layers (Linear, optional BN, ReLU), then Linear to `out_dim`.

    The paper's projections: MoCo 3 layers without BN (2048, 2048 -> 128); BYOL 2 layers with BN
    (4096 -> 256); SimCLR and SwAV 3 layers with BN (2048, 2048 -> 128). (PySlowFast's SimCLR config
    has no BN in its MLP: `:official` turns it off.)
    """

    hidden_dims: Sequence[int]
    out_dim: int
    use_bn: bool = False
    bn_group_size: int = 0
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:  # [N, D_in] -> [N, out_dim]
        x = x.astype(jnp.float32)
        for i, dim in enumerate(self.hidden_dims):
            x = nn.Dense(dim, use_bias=not self.use_bn, kernel_init=c2_xavier_fill, name=f"dense_{i}")(x)
            if self.use_bn:
                x = BatchNorm(group_size=self.bn_group_size, momentum=self.bn_momentum, name=f"bn_{i}")(x, train)
            x = nn.relu(x)
        return nn.Dense(self.out_dim, kernel_init=c2_xavier_fill, name=f"dense_{len(self.hidden_dims)}")(x)


class Prototypes(nn.Module):
    """SwAV prototypes: scores = z · Cᵀ for L2-normalised embeddings z and prototypes C [K, d]."""

    num_prototypes: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:  # [N, d] -> [N, K]
        c = self.param("kernel", _unit_rows_init, (self.num_prototypes, z.shape[-1]))
        return z @ c.T


def _unit_rows_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    """Random prototypes with unit-norm rows, as they are after every SwAV update."""
    return l2_normalize(jax.random.normal(key, shape, dtype))


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """x / ‖x‖ along the last axis (as torch.nn.functional.normalize)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)
