"""The shared configuration schema, its presets and its validation.

Every experiment config in `configs/` starts from `base_config(method)` and overrides what its
method needs. The schema lives here, in one place, so that `configs/*.py` stay short and so that a
typo on the command line (`--config.optim.base_lr=...`) fails loudly: the returned ConfigDict is
locked, and setting a key that does not exist raises with the key's name.

Presets (`--config=configs/byol.py:tiny,rho=3`) live in `rhovid.presets`, which edits this schema;
the schema imports nothing of the application.

Names follow the paper: `rho`, `num_frames`, `frame_stride`, `crop_size`, `temperature`,
`queue_size`, `num_prototypes`, `momentum_base`.
"""

from __future__ import annotations

import ml_collections

from rhovid.errors import UserError

METHODS = ("simclr", "moco", "byol", "swav")

# Paper defaults per method (docs/recipe.md). Learning rates are the paper's totals at batch 512.
# BN groups (paper B.1): MoCo per-GPU BN over 8 clips, the others SyncBN over 8 GPUs = 64 clips.
_METHOD_DEFAULTS = {
    "simclr": dict(
        optimizer="lars",
        base_lr=4.8,
        weight_decay=1e-6,
        temperature=0.1,
        mlp_layers=3,
        mlp_dim=2048,
        embed_dim=128,
        mlp_bn=True,
        bn_group_size=64,
    ),
    "moco": dict(
        optimizer="sgd",
        base_lr=0.4,
        weight_decay=1e-4,
        temperature=0.1,
        mlp_layers=3,
        mlp_dim=2048,
        embed_dim=128,
        mlp_bn=False,
        bn_group_size=8,
    ),
    "byol": dict(
        optimizer="lars",
        base_lr=4.8,
        weight_decay=1e-6,
        temperature=0.1,
        mlp_layers=2,
        mlp_dim=4096,
        embed_dim=256,
        mlp_bn=True,
        bn_group_size=64,
    ),
    "swav": dict(
        optimizer="lars",
        base_lr=4.8,
        weight_decay=1e-6,
        temperature=0.1,
        mlp_layers=3,
        mlp_dim=2048,
        embed_dim=128,
        mlp_bn=True,
        bn_group_size=64,
    ),
}


def base_config(method: str) -> ml_collections.ConfigDict:
    """The paper's Kinetics-400 pretraining recipe for `method` (docs/recipe.md), unlocked."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    d = _METHOD_DEFAULTS[method]
    c = ml_collections.ConfigDict()
    c.task = "pretrain"  # pretrain | demo | linear | finetune | knn
    c.method = method
    c.seed = 0

    # ---- data ----
    c.data = ml_collections.ConfigDict()
    c.data.name = "kinetics400"  # a TFDS name prepared by `rhovid.data.prepare`, or "synthetic"
    c.data.data_dir = ml_collections.FieldReference(None, field_type=str)
    c.data.train_split = "train"
    c.data.eval_split = "validation"
    c.data.label_key = "label"
    c.data.num_train_videos = 0  # only for name="synthetic": the epoch length it pretends to have
    c.data.rho = 2  # clips per video; ρ=1 means two augmented views of one clip
    c.data.num_frames = 8  # T
    c.data.frame_stride = 8  # τ, in frames at `target_fps`
    c.data.target_fps = 30.0
    c.data.crop_size = 224
    c.data.temporal_sampling = "clips"  # clips (T frames, stride τ) | segments (one frame per T-th, SSv2)
    c.data.min_clip_distance_s = ml_collections.FieldReference(None, field_type=float)
    c.data.max_clip_distance_s = ml_collections.FieldReference(None, field_type=float)  # t_max
    c.data.crop = "vgg"  # vgg (the paper's default: short side jitter + crop) | inception (aug+)
    c.data.area_range = (0.2, 0.766)
    c.data.aspect_range = (0.75, 4.0 / 3.0)
    c.data.short_side_range = (256, 320)
    c.data.flip = True
    c.data.color_strength = 0.5  # (b, c, s, h) = (0.8s, 0.8s, 0.8s, 0.2s); aug+: 0.75
    c.data.color_prob = 0.8
    c.data.grayscale_prob = 0.2
    c.data.blur_prob = 0.5
    c.data.blur_sigma = (0.1, 2.0)
    c.data.time_diff_prob = 0.0
    c.data.fps_jitter = 0.0
    c.data.color_on_device = False  # colour jitter, grayscale and blur inside the jitted step
    # With color_on_device: crop, resize and flip inside the step too. The host sends each view's
    # frames decoded inside its crop window, uncut, on a canvas of this size (given for 224² crops,
    # scaled by crop_size/224; windows larger than it are resized on the host), and the window's size.
    c.data.crop_on_device = False
    # Host colour jitter compiled by XLA (one fused loop instead of TensorFlow's op-by-op kernels:
    # about 2.4× less CPU per clip). Its float arithmetic differs from the kernels' by ~5e-5, which
    # moves a few pixels by one grey level, so a run with it is deterministic but not bit-identical
    # to one without it; off by default, so published results reproduce exactly.
    c.data.color_xla = False
    c.data.device_crop_canvas = (256, 320)
    c.data.mean = 0.45
    c.data.std = 0.225
    c.data.shuffle_buffer = 1024
    c.data.num_parallel_calls = -1  # -1 = tf.data.AUTOTUNE
    c.data.eval_short_side = 256
    # Test crops of 256² (at 224² training crops; scaled by crop_size/224 like eval_short_side),
    # cut after resizing the short side to eval_short_side: the paper's and the official test views.
    c.data.eval_crop_size = 256
    c.data.num_test_clips = 10
    c.data.num_test_crops = 3

    # ---- model ----
    c.model = ml_collections.ConfigDict()
    c.model.depth = 50
    c.model.width = 64  # channels of the stem; 8 for tiny models
    c.model.dtype = "float32"  # compute dtype; params stay float32
    c.model.remat = False
    c.model.fold_temporal = True  # run temporal-kernel-1 convs as 2-D convs over B·T
    c.model.matmul_forms = "auto"  # XLA:CPU-fast conv formulations (rhovid.models.layers); GPU/TPU unchanged
    # Clips per BN group, every group of one view (as one forward pass per view does): 8 (MoCo's
    # per-GPU BN), 64 (SyncBN over 8 GPUs); 0 = all clips of a view; -1 = each device's clips of a view.
    c.model.bn_group_size = d["bn_group_size"]
    c.model.bn_mix_views = False  # True: groups are contiguous slices of the video-major batch
    c.model.bn_momentum = 0.9  # flax convention (PyTorch 0.1)
    # SimCLR/SwAV: encode k views at a time with gradient caching (memory flat in ρ; with BN groups
    # of one view the statistics are those of one pass; rhovid/grad_cache.py); 0 = all B·V clips in one pass.
    c.model.views_per_chunk = 0
    c.model.mlp_layers = d["mlp_layers"]
    c.model.mlp_dim = d["mlp_dim"]
    c.model.mlp_bn = d["mlp_bn"]
    c.model.embed_dim = d["embed_dim"]
    c.model.predictor_dim = 4096  # BYOL only
    c.model.predictor_layers = 2  # BYOL only: linear layers of the predictor (Table 16)
    c.model.arch = "slow"  # slow (Slow-pathway ResNet of `depth`) | r2plus1d | s3dg (Table 5)
    c.model.num_prototypes = 1000  # SwAV only

    # ---- objective ----
    c.objective = ml_collections.ConfigDict()
    c.objective.temperature = d["temperature"]
    c.objective.loss_form = "paper"  # paper (eq. 1/2) | pairwise | official (PySlowFast's loop)
    c.objective.queue_size = 65536  # MoCo: ring buffer, any size works with any batch and ρ
    c.objective.queue_init = "normal"  # MoCo: normal (unit-norm rows) | uniform (±1/√(d/3), PySlowFast)
    c.objective.momentum_base = {"moco": 0.994, "byol": 0.996}.get(method, 0.0)
    c.objective.momentum_anneal = True  # cosine-anneal the momentum to 1 (False: constant, Table 15)
    c.objective.shuffle_bn = method == "moco"  # MoCo's shuffle-BN of the key encoder
    c.objective.sinkhorn_iters = 3  # SwAV
    c.objective.sinkhorn_epsilon = 0.05
    c.objective.freeze_prototypes_epochs = 1.0
    c.objective.swav_queue_size = 0
    c.objective.swav_queue_start_epoch = 15.0

    # ---- optimisation ----
    c.optim = ml_collections.ConfigDict()
    c.optim.optimizer = d["optimizer"]  # sgd | lars
    c.optim.base_lr = d["base_lr"]  # at `base_batch_size` videos; scaled linearly
    c.optim.base_batch_size = 512
    c.optim.momentum = 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = d["weight_decay"]
    c.optim.trust_coefficient = 0.001
    c.optim.warmup_epochs = 35.0
    c.optim.warmup_init_lr = 0.0  # at base_batch_size, scaled like base_lr
    c.optim.no_update_steps = 0  # first steps without a parameter update; -1: queue_size // batch_size
    c.optim.grad_clip_norm = 0.0  # 0 = off

    c.batch_size = 512  # global, in videos (each contributes ρ clips)
    c.num_epochs = 200.0
    c.num_steps = 0  # >0 overrides num_epochs

    # ---- bookkeeping ----
    c.log_every_steps = 50
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3
    # Resume a workdir whose recorded recipe differs from this config (the change is recorded in
    # config_history.jsonl); without it, such a resume is refused naming every changed field.
    c.allow_config_change = False
    c.knn = ml_collections.ConfigDict()
    c.knn.every_steps = 0  # 0 = off (pod scale); kNN monitor on the eval split otherwise
    c.knn.k = 200
    c.knn.temperature = 0.07
    c.knn.max_train_videos = 0  # 0 = all
    c.eval = ml_collections.ConfigDict()  # filled by eval configs and the demo
    c.pretrained = ""
    return c


def validate(c: ml_collections.ConfigDict, num_devices: int) -> None:
    """Fails before training, with one line naming the value and the fix, on a bad config."""
    from rhovid.models.layers import resolve_matmul_forms
    from rhovid.models.resnet3d import STAGE_DEPTHS

    def fail(msg: str) -> None:
        raise UserError(msg)

    if c.method not in METHODS:
        fail(f"config.method={c.method!r} is not one of {METHODS}.")
    if c.data.rho < 1:
        fail(f"data.rho={c.data.rho} must be >= 1 (ρ=1: two augmented views of one clip).")
    if c.batch_size < 1 or c.batch_size % num_devices:
        fix = max(1, c.batch_size // num_devices) * num_devices
        fail(
            f"batch_size={c.batch_size} is not divisible by the {num_devices} devices; use a "
            f"multiple of {num_devices}, e.g. --config.batch_size={fix}."
        )
    if c.model.get("arch", "slow") not in ("slow", "r2plus1d", "s3dg"):
        fail(f"model.arch={c.model.arch!r} is not one of slow, r2plus1d, s3dg.")
    if c.model.depth not in STAGE_DEPTHS:
        fail(f"model.depth={c.model.depth} is not one of {sorted(STAGE_DEPTHS)}.")
    if c.model.dtype not in ("float32", "bfloat16", "float16"):
        fail(f"model.dtype={c.model.dtype!r}; use float32 or bfloat16.")
    try:
        resolve_matmul_forms(c.model.matmul_forms)
    except ValueError as e:
        fail(f"model.{e}")
    if c.data.num_frames < 1 or c.data.frame_stride < 1:
        fail(f"data.num_frames={c.data.num_frames} and data.frame_stride={c.data.frame_stride} must be >= 1.")
    if c.data.crop == "vgg" and c.data.crop_size > min(c.data.short_side_range):
        fail(
            f"data.crop_size={c.data.crop_size} is larger than the frames it is cut from "
            f"(short side {min(c.data.short_side_range)}); lower crop_size or raise data.short_side_range."
        )
    if c.data.crop not in ("inception", "vgg"):
        fail(f"data.crop={c.data.crop!r}; use 'inception' or 'vgg'.")
    if c.data.crop_size > c.data.eval_short_side:
        fail(
            f"data.crop_size={c.data.crop_size} is larger than the evaluation frames (short side "
            f"data.eval_short_side={c.data.eval_short_side}); lower crop_size or raise eval_short_side."
        )
    if not 1 <= c.data.eval_crop_size <= c.data.eval_short_side:
        fail(
            f"data.eval_crop_size={c.data.eval_crop_size} must be in [1, data.eval_short_side="
            f"{c.data.eval_short_side}]: a test crop is cut from the resized frame; use "
            f"--config.data.eval_crop_size={c.data.eval_short_side} or raise data.eval_short_side."
        )
    if c.optim.optimizer not in ("sgd", "lars"):
        fail(f"optim.optimizer={c.optim.optimizer!r}; use 'sgd' or 'lars'.")
    if c.num_steps < 0:
        fail(
            f"num_steps={c.num_steps} is negative (it would train nothing); use a positive count, or 0 to "
            "train for num_epochs."
        )
    if c.num_epochs < 0:
        fail(f"num_epochs={c.num_epochs} is negative; use a positive number of epochs (or set num_steps).")
    if c.num_steps == 0 and c.num_epochs <= 0:
        fail(
            f"num_steps=0 and num_epochs={c.num_epochs}: nothing to train; set --config.num_epochs > 0 or "
            "--config.num_steps > 0."
        )
    if c.optim.base_lr < 0:
        fail(
            f"optim.base_lr={c.optim.base_lr} is negative (training would climb the loss); use a positive "
            "learning rate, e.g. the method's default."
        )
    if c.optim.weight_decay < 0:
        fail(f"optim.weight_decay={c.optim.weight_decay} is negative; use 0 (off) or a positive value.")
    for name in ("log_every_steps", "checkpoint_every_steps", "keep_checkpoints"):
        if c[name] < 1:
            fail(
                f"{name}={c[name]} must be >= 1 (keep_checkpoints=1 keeps only the latest step); "
                f"set --config.{name}=1 or more."
            )
    if c.knn.every_steps < 0:
        fail(f"knn.every_steps={c.knn.every_steps} is negative; use 0 (off) or a step interval.")
    for name, value in (
        ("objective.temperature", c.objective.temperature),
        ("knn.temperature", c.knn.temperature),
        ("objective.sinkhorn_epsilon", c.objective.sinkhorn_epsilon),
    ):
        if not value > 0:  # also catches NaN
            fail(
                f"{name}={value} must be > 0 (it divides the similarities); the paper uses 0.1 for "
                "objective.temperature, 0.07 for knn.temperature, 0.05 for sinkhorn_epsilon."
            )
    if not 0 <= c.objective.momentum_base <= 1:
        fail(
            f"objective.momentum_base={c.objective.momentum_base} must be in [0, 1]; "
            "use the paper's MoCo 0.994 or BYOL 0.996."
        )
    if c.data.crop_size < 1:
        fail(f"data.crop_size={c.data.crop_size} must be >= 1.")
    mixed, g = c.model.bn_mix_views, c.model.bn_group_size  # unmixed: groups of g videos' clips of one view
    if g > 0 and not mixed and g < c.batch_size and c.batch_size % g:
        fail(
            f"model.bn_group_size={g} (clips of one view) does not divide the batch_size={c.batch_size} videos; "
            "choose a divisor, 0 (all clips of a view) or -1 (per device)."
        )
    if g > 0 and mixed and (c.batch_size * max(c.data.rho, 2)) % g:
        fail(
            f"model.bn_group_size={c.model.bn_group_size} does not divide the {c.batch_size * max(c.data.rho, 2)} "
            "clips of a batch; choose a divisor, 0 (global) or -1 (per device)."
        )
    k, views = c.model.views_per_chunk, max(c.data.rho, 2)
    if k < 0 or (k and views % k):
        divisors = [d for d in range(1, views + 1) if views % d == 0]
        fail(
            f"model.views_per_chunk={k} must be 0 (one pass) or divide the {views} views of a video; "
            f"use one of {divisors}."
        )
    if k and c.method not in ("simclr", "swav"):
        fail(
            f"model.views_per_chunk={k} is for simclr and swav; {c.method} encodes clips without it "
            "(MoCo and BYOL can run clips sequentially); set --config.model.views_per_chunk=0."
        )
    if k and mixed and (g < 0 or (g and (c.batch_size * k) % g)):
        fail(
            f"model.bn_group_size={c.model.bn_group_size} with model.views_per_chunk={k}: BN runs per chunk of "
            f"{c.batch_size * k} clips; use 0 (the whole chunk) or a divisor of {c.batch_size * k}."
        )
