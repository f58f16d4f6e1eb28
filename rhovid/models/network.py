"""The network one ρ method trains: backbone -> projection MLP [-> predictor] [-> prototypes].

The same module serves the online network and the momentum (target) network: the target is
applied with `online=False`, which stops after the projection, so its parameters are exactly the
online network's backbone and projector and an EMA between the two is a plain tree map.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import ml_collections

from rhovid.models.heads import MLP, Prototypes, l2_normalize
from rhovid.models.resnet3d import ResNet3D, build_backbone


class SSLNet(nn.Module):
    """Backbone + heads. Outputs a dict of per-clip arrays (N = clips).

    Attributes:
      backbone: the video encoder.
      projector: projection MLP.
      predictor: BYOL's prediction MLP, or None.
      num_prototypes: SwAV's prototype count, or 0.
    """

    backbone: ResNet3D
    projector: MLP
    predictor: MLP | None = None
    num_prototypes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, online: bool = True) -> dict[str, jax.Array]:
        features = self.backbone(x, train)  # [N, D]
        embedding = self.projector(features, train)  # [N, d]
        out = {"features": features, "embedding": embedding}
        if online and self.predictor is not None:
            out["prediction"] = self.predictor(embedding, train)  # [N, d]
        if online and self.num_prototypes:
            prototypes = Prototypes(self.num_prototypes, name="prototypes")
            out["scores"] = prototypes(l2_normalize(embedding))  # [N, K]
            out["prototypes"] = prototypes.variables["params"]["kernel"]  # [K, d]
        return out


def bn_groups(config: ml_collections.ConfigDict, bn_group_size: int | None = None) -> int | tuple[int, int]:
    """The BatchNorm grouping of one forward pass (`rhovid.models.layers.BatchNorm.group_size`).

    By default every group holds clips of one view only: `bn_group_size` clips of that view from
    consecutive videos (8 for MoCo's per-GPU BN, 64 for SyncBN over 8 GPUs; paper B.1), as in
    PySlowFast, which runs each view through the network on its own. A pass sees all V views of
    each video (or the `model.views_per_chunk` views of a chunk), so the group is (clips, V).
    `model.bn_mix_views=True` keeps contiguous slices of the video-major batch instead.

    Args:
      bn_group_size: clips per group, resolved (train.py turns −1 into the clips of one device,
        all views; here that becomes the device's clips of one view). None: `model.bn_group_size`.
    """
    m = config.model
    group = m.bn_group_size if bn_group_size is None else bn_group_size
    if m.get("bn_mix_views", False):
        return group
    views = m.get("views_per_chunk", 0) or max(config.data.rho, 2)
    if m.bn_group_size == -1 and group > 0:  # the device's clips of all views -> of one view
        group //= max(config.data.rho, 2)
    return (group, views)


def build_network(config: ml_collections.ConfigDict, bn_group_size: int | None = None) -> SSLNet:
    """The network for `config.method`, with BN groups of `bn_group_size` clips (see `bn_groups`)."""
    m = config.model
    group = bn_groups(config, bn_group_size)
    backbone = build_backbone(m, bn_group_size=group)
    bn = dict(bn_group_size=group, bn_momentum=m.bn_momentum)
    projector = MLP((m.mlp_dim,) * (m.mlp_layers - 1), m.embed_dim, use_bn=m.mlp_bn, **bn)
    predictor = None
    if config.method == "byol":
        hidden = (m.predictor_dim,) * (m.get("predictor_layers", 2) - 1)
        predictor = MLP(hidden, m.embed_dim, use_bn=True, **bn)
    return SSLNet(
        backbone=backbone,
        projector=projector,
        predictor=predictor,
        num_prototypes=m.num_prototypes if config.method == "swav" else 0,
    )
