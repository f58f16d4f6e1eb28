"""The four ρ objectives behind one interface (`rhovid.methods.base.Objective`)."""

from __future__ import annotations

import ml_collections

from rhovid.methods.base import Objective, StepInfo, off_diagonal_mean
from rhovid.methods.byol import BYOL
from rhovid.methods.moco import MoCo
from rhovid.methods.simclr import SimCLR
from rhovid.methods.swav import SwAV

__all__ = ["Objective", "StepInfo", "off_diagonal_mean", "build_objective", "BYOL", "MoCo", "SimCLR", "SwAV"]


def build_objective(config: ml_collections.ConfigDict) -> Objective:
    """The objective `config.method` names, with `config.objective`'s hyper-parameters."""
    o = config.objective
    if config.method == "simclr":
        return SimCLR(temperature=o.temperature, loss_form=o.loss_form)
    if config.method == "moco":
        return MoCo(temperature=o.temperature, queue_size=o.queue_size, loss_form=o.loss_form, queue_init=o.queue_init)
    if config.method == "byol":
        return BYOL(loss_form=o.loss_form)
    if config.method == "swav":
        return SwAV(
            temperature=o.temperature,
            epsilon=o.sinkhorn_epsilon,
            sinkhorn_iters=o.sinkhorn_iters,
            queue_size=o.swav_queue_size,
            queue_start_epoch=o.swav_queue_start_epoch,
            loss_form=o.loss_form,
        )
    raise ValueError(f"config.method={config.method!r} is not one of simclr, moco, byol, swav.")
