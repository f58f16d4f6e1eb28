"""Recipe presets: the released configs' augmentation (`:aug_plus`) and PySlowFast's code (`:official`).

The configs in `configs/` train the paper's recipe (docs/recipe.md lists every value). Where the
official implementation (PySlowFast, `configs/contrastive_ssl/*.yaml` and the code they run)
computes something else, `:official` switches to it, so both can be trained and compared:

    python -m rhovid.main --config=configs/byol.py:official,rho=4 ...

`:aug_plus` is the stronger augmentation of the paper's Tables 7–9, which the released configs
and models use: an inception-style crop of 20–76.6 % of the frame's area with aspect jitter, and
colour strength 0.75. `:official` includes it.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_collections

from rhovid.errors import UserError

# PySlowFast's BASE_LR per 8-GPU machine (the last of duplicate YAML keys) × NUM_SHARDS = 8: totals at 512.
OFFICIAL_BASE_LR = {"moco": 0.1 * 8, "simclr": 1.2 * 8, "byol": 0.6 * 8, "swav": 0.6 * 8}
OFFICIAL_WARMUP_START_LR = 0.001 * 8  # WARMUP_START_LR, scaled by NUM_SHARDS like BASE_LR


def _no_value(name: str, value: str | None) -> None:
    if value is not None:
        raise UserError(f"Preset {name!r} takes no value (got {name}={value}); write ':{name}'.")


def aug_plus(c: ml_collections.ConfigDict, value: str | None) -> None:
    """The paper's "aug+" (Tables 7–9, released configs): inception crop 0.2–0.766, colour 0.75."""
    _no_value("aug_plus", value)
    c.data.crop = "inception"
    c.data.area_range = (0.2, 0.766)  # TRAIN_JITTER_SCALES_RELATIVE
    c.data.aspect_range = (0.75, 4.0 / 3.0)  # TRAIN_JITTER_ASPECT_RELATIVE
    c.data.color_strength = 0.75  # SSL_COLOR_BRI_CON_SAT 0.6 = 0.8·0.75, SSL_COLOR_HUE 0.15 = 0.2·0.75


def official(c: ml_collections.ConfigDict, value: str | None) -> None:
    """What PySlowFast computes, where it differs from the paper (docs/recipe.md, "official" column)."""
    _no_value("official", value)
    aug_plus(c, None)
    c.objective.loss_form = "official"  # per-query sums; SimCLR consecutive pairs; SwAV codes of views 0, 1
    c.optim.base_lr = OFFICIAL_BASE_LR[c.method]
    c.optim.nesterov = True  # SOLVER.NESTEROV default
    c.optim.warmup_epochs = 35.0
    c.optim.warmup_init_lr = OFFICIAL_WARMUP_START_LR
    if c.method == "moco":
        c.objective.queue_init = "uniform"  # torch.rand · 2/√(d/3) − 1/√(d/3)
        c.objective.shuffle_bn = True  # _batch_shuffle_on (per-GPU BN)
        c.optim.no_update_steps = -1  # QUEUE_LEN / (BATCH_SIZE · NUM_SHARDS) iterations to fill the queue
    if c.method == "simclr":
        c.model.mlp_bn = False  # the config sets BN_SYNC_MLP but not BN_MLP: no BN in the MLP
    # BN: one forward pass per view, per-GPU BN (MoCo, 8 clips) or NUM_SYNC_DEVICES 8 (64 clips): the defaults.
    c.model.bn_group_size = 8 if c.method == "moco" else 64
    c.model.bn_mix_views = False


PRESETS: dict[str, Callable[[ml_collections.ConfigDict, str | None], None]] = {
    "official": official,
    "aug_plus": aug_plus,
}
