"""The shared configuration schema, its presets and its validation.

Every experiment config in `configs/` starts from `base_config(method)` and overrides what its
method needs. The schema lives here, in one place, so that `configs/*.py` stay short and so that a
typo on the command line (`--config.optim.base_lr=...`) fails loudly: the returned ConfigDict is
locked, and setting a key that does not exist raises with the key's name.

Presets are selected by the `:arg` of `--config=configs/byol.py:arg`, a comma-separated list:
`tiny` (width 8, 4 frames, 32² crops: tests and laptops), `demo` (the embedded demo),
`rho=N`, `steps=N`.

Names follow the paper: `rho`, `num_frames`, `frame_stride`, `crop_size`, `temperature`,
`queue_size`, `num_prototypes`, `momentum_base`.
"""

from __future__ import annotations

import ml_collections

from rhovid.errors import UserError

METHODS = ("simclr", "moco", "byol", "swav")

# Paper defaults per method (SPEC.md §1.3, §4). Learning rates are the paper's totals at batch 512.
_METHOD_DEFAULTS = {
    "simclr": dict(
        optimizer="lars", base_lr=4.8, weight_decay=1e-6, temperature=0.1,
        mlp_layers=3, mlp_dim=2048, embed_dim=128, mlp_bn=True, bn_group_size=0,
    ),
    "moco": dict(
        optimizer="sgd", base_lr=0.4, weight_decay=1e-4, temperature=0.1,
        mlp_layers=3, mlp_dim=2048, embed_dim=128, mlp_bn=False, bn_group_size=-1,
    ),
    "byol": dict(
        optimizer="lars", base_lr=4.8, weight_decay=1e-6, temperature=0.1,
        mlp_layers=2, mlp_dim=4096, embed_dim=256, mlp_bn=True, bn_group_size=0,
    ),
    "swav": dict(
        optimizer="lars", base_lr=4.8, weight_decay=1e-6, temperature=0.1,
        mlp_layers=3, mlp_dim=2048, embed_dim=128, mlp_bn=True, bn_group_size=0,
    ),
}


def base_config(method: str) -> ml_collections.ConfigDict:
    """The paper's Kinetics-400 pretraining recipe for `method` (SPEC.md §1–4), unlocked."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    d = _METHOD_DEFAULTS[method]
    c = ml_collections.ConfigDict()
    c.task = "pretrain"  # pretrain | demo | linear | finetune | knn
    c.method = method
    c.seed = 0

    # ---- data (SPEC.md §1.1, §3) ----
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
    c.data.min_clip_distance_s = ml_collections.FieldReference(None, field_type=float)
    c.data.max_clip_distance_s = ml_collections.FieldReference(None, field_type=float)  # t_max
    c.data.crop = "inception"  # inception (aug+) | vgg (short side jitter + crop)
    c.data.area_range = (0.2, 0.766)
    c.data.aspect_range = (0.75, 4.0 / 3.0)
    c.data.short_side_range = (256, 320)
    c.data.flip = True
    c.data.color_strength = 0.75  # (b, c, s, h) = (0.8s, 0.8s, 0.8s, 0.2s)
    c.data.color_prob = 0.8
    c.data.grayscale_prob = 0.2
    c.data.blur_prob = 0.5
    c.data.blur_sigma = (0.1, 2.0)
    c.data.time_diff_prob = 0.0
    c.data.fps_jitter = 0.0
    c.data.color_on_device = False  # colour jitter, grayscale and blur inside the jitted step
    c.data.mean = 0.45
    c.data.std = 0.225
    c.data.shuffle_buffer = 1024
    c.data.num_parallel_calls = -1  # -1 = tf.data.AUTOTUNE
    c.data.eval_short_side = 256
    c.data.num_test_clips = 10
    c.data.num_test_crops = 3

    # ---- model (SPEC.md §2) ----
    c.model = ml_collections.ConfigDict()
    c.model.depth = 50
    c.model.width = 64  # channels of the stem; 8 for tiny models
    c.model.dtype = "float32"  # compute dtype; params stay float32
    c.model.remat = False
    c.model.fold_temporal = True  # run temporal-kernel-1 convs as 2-D convs over B·T
    c.model.matmul_forms = "auto"  # XLA:CPU-fast conv formulations (rhovid.models.layers); GPU/TPU unchanged
    c.model.bn_group_size = d["bn_group_size"]  # clips per BN group: 0 global (SyncBN), -1 per device
    c.model.bn_momentum = 0.9  # flax convention (PyTorch 0.1)
    # SimCLR/SwAV: encode k views at a time with gradient caching (memory flat in ρ, BN per chunk
    # of views; rhovid/grad_cache.py); 0 = all B·V clips in one pass.
    c.model.views_per_chunk = 0
    c.model.mlp_layers = d["mlp_layers"]
    c.model.mlp_dim = d["mlp_dim"]
    c.model.mlp_bn = d["mlp_bn"]
    c.model.embed_dim = d["embed_dim"]
    c.model.predictor_dim = 4096  # BYOL only
    c.model.num_prototypes = 1000  # SwAV only

    # ---- objective (SPEC.md §1.3) ----
    c.objective = ml_collections.ConfigDict()
    c.objective.temperature = d["temperature"]
    c.objective.queue_size = 65536  # MoCo
    c.objective.momentum_base = {"moco": 0.994, "byol": 0.996}.get(method, 0.0)
    c.objective.shuffle_bn = False  # MoCo
    c.objective.sinkhorn_iters = 3  # SwAV
    c.objective.sinkhorn_epsilon = 0.05
    c.objective.freeze_prototypes_epochs = 1.0
    c.objective.swav_queue_size = 0
    c.objective.swav_queue_start_epoch = 15.0

    # ---- optimisation (SPEC.md §4) ----
    c.optim = ml_collections.ConfigDict()
    c.optim.optimizer = d["optimizer"]  # sgd | lars
    c.optim.base_lr = d["base_lr"]  # at `base_batch_size` videos; scaled linearly
    c.optim.base_batch_size = 512
    c.optim.momentum = 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = d["weight_decay"]
    c.optim.trust_coefficient = 0.001
    c.optim.warmup_epochs = 35.0
    c.optim.warmup_init_lr = 0.0
    c.optim.grad_clip_norm = 0.0  # 0 = off

    c.batch_size = 512  # global, in videos (each contributes ρ clips)
    c.num_epochs = 200.0
    c.num_steps = 0  # >0 overrides num_epochs

    # ---- bookkeeping ----
    c.log_every_steps = 50
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3
    c.knn = ml_collections.ConfigDict()
    c.knn.every_steps = 0  # 0 = off (pod scale); kNN monitor on the eval split otherwise
    c.knn.k = 200
    c.knn.temperature = 0.07
    c.knn.max_train_videos = 0  # 0 = all
    c.eval = ml_collections.ConfigDict()  # filled by eval configs and the demo
    c.pretrained = ""
    return c


def apply_presets(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies the comma-separated presets of `--config=file.py:arg` and locks the config."""
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key == "tiny":
            _tiny(c)
        elif key == "rho":
            c.data.rho = int(value)
        elif key == "steps":
            c.num_steps = int(value)
        elif key == "demo":
            from rhovid.demo import demo_preset  # noqa: PLC0415

            demo_preset(c)
        else:
            raise ValueError(f"Unknown config preset {item!r}; known: tiny, demo, rho=N, steps=N.")
    if c.task == "demo" and c.method == "moco":
        from rhovid.demo import fit_queue_to_views  # noqa: PLC0415

        fit_queue_to_views(c)  # after `rho=N`, whichever order the presets came in
    c.lock()
    return c


def _tiny(c: ml_collections.ConfigDict) -> None:
    """Width 8, 4 frames, 32² crops, synthetic data: seconds per step on a laptop CPU."""
    c.data.name = "synthetic"
    c.data.num_train_videos = 64
    c.data.num_frames = 4
    c.data.frame_stride = 2
    c.data.crop_size = 32
    c.model.depth = 14  # one bottleneck per stage: every code path, a fraction of the compile time
    c.model.width = 8
    c.model.mlp_dim = 64
    c.model.embed_dim = 32
    c.model.predictor_dim = 64
    c.model.num_prototypes = 16
    c.objective.queue_size = 128
    c.objective.freeze_prototypes_epochs = 0.0
    c.optim.warmup_epochs = 0.0
    c.batch_size = 16
    c.num_steps = 3
    c.log_every_steps = 1
    c.checkpoint_every_steps = 2


def validate(c: ml_collections.ConfigDict, num_devices: int) -> None:
    """Fails before training, with one line naming the value and the fix, on a bad config."""
    from rhovid.models.layers import resolve_matmul_forms  # noqa: PLC0415
    from rhovid.models.resnet3d import STAGE_DEPTHS  # noqa: PLC0415

    def fail(msg: str) -> None:
        raise UserError(msg)

    if c.method not in METHODS:
        fail(f"config.method={c.method!r} is not one of {METHODS}.")
    if c.data.rho < 1:
        fail(f"data.rho={c.data.rho} must be >= 1 (ρ=1: two augmented views of one clip).")
    if c.batch_size < 1 or c.batch_size % num_devices:
        fix = max(1, c.batch_size // num_devices) * num_devices
        fail(f"batch_size={c.batch_size} is not divisible by the {num_devices} devices; use a "
             f"multiple of {num_devices}, e.g. --config.batch_size={fix}.")
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
        fail(f"data.crop_size={c.data.crop_size} is larger than the frames it is cut from "
             f"(short side {min(c.data.short_side_range)}); lower crop_size or raise data.short_side_range.")
    if c.data.crop not in ("inception", "vgg"):
        fail(f"data.crop={c.data.crop!r}; use 'inception' or 'vgg'.")
    if c.data.crop_size > c.data.eval_short_side:
        fail(f"data.crop_size={c.data.crop_size} is larger than the evaluation frames (short side "
             f"data.eval_short_side={c.data.eval_short_side}); lower crop_size or raise eval_short_side.")
    if c.optim.optimizer not in ("sgd", "lars"):
        fail(f"optim.optimizer={c.optim.optimizer!r}; use 'sgd' or 'lars'.")
    if c.num_steps <= 0 and c.num_epochs <= 0:
        fail("Set num_epochs > 0 or num_steps > 0.")
    if c.model.bn_group_size > 0 and (c.batch_size * max(c.data.rho, 2)) % c.model.bn_group_size:
        fail(f"model.bn_group_size={c.model.bn_group_size} does not divide the {c.batch_size * max(c.data.rho, 2)} "
             "clips of a batch; choose a divisor, 0 (global) or -1 (per device).")
    k, views = c.model.views_per_chunk, max(c.data.rho, 2)
    if k < 0 or (k and views % k):
        divisors = [d for d in range(1, views + 1) if views % d == 0]
        fail(f"model.views_per_chunk={k} must be 0 (one pass) or divide the {views} views of a video; "
             f"use one of {divisors}.")
    if k and c.method not in ("simclr", "swav"):
        fail(f"model.views_per_chunk={k} is for simclr and swav; {c.method} encodes clips without it "
             "(MoCo and BYOL can run clips sequentially); set --config.model.views_per_chunk=0.")
    if k and (c.model.bn_group_size < 0 or (c.model.bn_group_size and (c.batch_size * k) % c.model.bn_group_size)):
        fail(f"model.bn_group_size={c.model.bn_group_size} with model.views_per_chunk={k}: BN runs per chunk of "
             f"{c.batch_size * k} clips; use 0 (the whole chunk) or a divisor of {c.batch_size * k}.")
