"""Config presets: the `:a,b=1` after a config file, parsed in one place for every config.

    python -m rhovid.main --config=configs/byol.py:demo,rho=3 ...
    python -m rhovid.main --config=configs/eval/finetune.py:hmdb51,split=2 ...

A preset is a function `fn(c, value)` that edits an unlocked config in place; `value` is the text
after `=` (None without one). `apply(c, arg)` runs the presets of `arg` left to right, so a later
preset overrides an earlier one, then locks the config (a typo'd `--config.*` key then fails
naming the key). Each preset here says which tasks it is for; the registry `PRESETS` also takes
the presets of `rhovid.recipes` (the paper's and the official code's recipe) and
`rhovid.ablations` (the rows of the paper's study), when those modules exist.

The schema (`rhovid.config`) knows nothing of presets: data flows from here to the schema, never
back.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import ml_collections

from rhovid.data import registry
from rhovid.errors import UserError

Preset = Callable[[ml_collections.ConfigDict, "str | None"], None]

PRETRAIN_TASKS = ("pretrain", "demo")
EVAL_TASKS = ("linear", "finetune", "knn")


def _int(name: str, value: str | None, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a one-line error naming the preset."""
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"Preset {name}={value!r} needs an integer, e.g. :{name}=2.") from None
    if number < minimum:
        raise UserError(f"Preset {name}={number} must be >= {minimum}.")
    return number


def _float(name: str, value: str | None) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"Preset {name}={value!r} needs a number, e.g. :{name}=100.") from None
    if number <= 0:
        raise UserError(f"Preset {name}={number} must be > 0.")
    return number


def _no_value(name: str, value: str | None) -> None:
    if value is not None:
        raise UserError(f"Preset {name} takes no value; write :{name}, not :{name}={value}.")


def _for_tasks(name: str, c: ml_collections.ConfigDict, tasks: tuple[str, ...]) -> None:
    if c.task not in tasks:
        raise UserError(f"Preset {name} is for {'/'.join(tasks)} configs, not for task {c.task!r}.")


# ---------------------------------------------------------------------------------------------
# Every config.


def tiny(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """Width 8, depth 14, 4 frames, 32² crops, synthetic data: seconds per step on a laptop CPU."""
    _no_value("tiny", value)
    c.data.name = registry.SYNTHETIC
    c.data.num_train_videos = 64
    c.data.num_frames = 4
    c.data.frame_stride = 2
    c.data.crop_size = 32
    c.data.eval_crop_size = 224  # test crops at the training crop size: one compiled shape
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


def steps(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`steps=N`: train for N steps (overrides the epoch count)."""
    c.num_steps = _int("steps", value)


def rho(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`rho=N`: N clips per video (ρ = 1: two augmented views of one clip)."""
    _for_tasks("rho", c, PRETRAIN_TASKS)
    c.data.rho = _int("rho", value)


def epochs(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`epochs=N`: train for N epochs (pretraining, linear probe or fine-tuning)."""
    c.num_epochs = _float("epochs", value)


def demo(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """The embedded demo: moving digits, a width-8 R-14, 4×32² clips, ~10 minutes on 2 CPU cores.

    For a pretraining config this is the demo task (pretrain, then probe against random init); for
    an evaluation config it points the evaluation at the demo dataset, at the demo's clip settings.
    """
    _no_value("demo", value)
    if c.task in EVAL_TASKS:
        _demo_evaluation(c)
        return
    c.task = "demo"
    _demo_data(c)
    c.data.blur_prob = 0.0  # σ up to 2 px is far stronger at 32² than at 224²
    c.model.depth = 14
    c.model.width = 8
    c.model.mlp_dim = 256
    # MoCo's MLP has no BN in the paper; at this scale its projections start nearly collinear and
    # MoCo barely moves in 400 steps (measured: probes at chance). BN in the MLP fixes that.
    c.model.mlp_bn = True
    c.model.embed_dim = 64
    c.model.predictor_dim = 256
    # BN as the demo was measured with: one group of all clips of the (single-device) batch, views
    # mixed, no shuffle-BN. (The paper's groups of 8 or 64 clips of one view are for 64 GPUs.)
    c.model.bn_group_size = -1 if c.method == "moco" else 0
    c.model.bn_mix_views = True
    c.objective.shuffle_bn = False
    # SwAV's prototypes must outnumber the embedding's dimensions: with K = d = 64, one unit
    # vector scores every prototype equally (C z = const has a solution), and SwAV collapsed onto
    # it within 100 steps (loss = ln K, uniform codes; measured, even with frozen prototypes).
    # K = 4d has no such point (the paper: 1000 prototypes for d = 128).
    c.model.num_prototypes = 256
    # The queue must stay a small share of an epoch's keys (paper: 65,536 of 480k): a queue
    # larger than the 1800 videos × 2 views of an epoch fills with stale keys of the very videos
    # it must match, and MoCo stalls (measured: 4096 keys, loss rose to log K, probes at chance).
    c.objective.queue_size = 512
    # The paper's key-encoder momentum (0.994) averages over ~170 steps: half of this whole run,
    # so the keys lag far behind the queries. 0.9 (~10 steps, still slower than the queue's 4
    # steps of keys) measured better here: MoCo accuracy 2–7 % vs 0–3 % at 0.99, digit probe 28 %.
    # BYOL's target network likewise (paper: 0.996, ~250 steps): at 0.996 and LARS ×1 ρBYOL's
    # motion probe gained 3 points over random init in 1000 steps. With the ×4 rate below, 0.99
    # (~100 steps) holds both labels: digit 44.0 / motion 72.7 % linear (random init 27.7 / 44.3);
    # at 0.9 the target chased the online network and BYOL kept mostly the speed (digit 41.7 %,
    # motion 83.2 %).
    if c.method in ("moco", "byol"):
        c.objective.momentum_base = {"moco": 0.9, "byol": 0.99}[c.method]
    # SwAV at batch 64: the prototypes stay fixed for 3 epochs (84 steps), and from then on
    # Sinkhorn also sees a queue of the last 8 steps' embeddings (576 samples for 256
    # prototypes instead of 64), as SwAV does for small batches.
    c.objective.freeze_prototypes_epochs = 3.0
    c.objective.swav_queue_size = 512
    c.objective.swav_queue_start_epoch = 3.0
    c.batch_size = 64
    # 1000 steps of 64 videos (~36 epochs), ~7 minutes of training on 2 idle cores (2.2–2.6
    # steps/s). Length is what the demo needed most: at 336 steps no method lifted either label
    # 15 points above random init (ρSimCLR motion probe 56 %); at 1000 steps ρSimCLR and ρMoCo
    # read the speed at 90 % (random init 44 %).
    c.num_epochs = 36.0
    c.num_steps = 1000
    c.optim.warmup_epochs = 1.0
    # LARS moves each layer by lr × 0.001 of its norm per step, and the paper's linear scaling
    # leaves lr = 0.3 at 64 videos: too slow for 1000 steps. ×4 (lr 1.2) measured: ρBYOL's motion
    # probe 74 % vs 50 % at ×1. ρSwAV stays at ×1 (base 2.4): at ×4 its clusters formed around the
    # speed alone (1000 steps: digit 22.0 % linear, below random init's 27.7; motion 95.5 %), at ×1
    # they hold both (digit 47.2 %, motion 62.3 %). ρBYOL at ×2 (4.8) lost on both (36.5 / 69.8).
    c.optim.base_lr = {"moco": 3.2, "simclr": 2.4, "byol": 9.6, "swav": 2.4}[c.method]
    c.log_every_steps = 20
    c.checkpoint_every_steps = 200
    c.eval.num_clips = 2
    c.eval.knn_k = 20


def _demo_evaluation(c: ml_collections.ConfigDict) -> None:
    """An evaluation config at the demo's scale, as the demo's own table evaluates, in seconds.

    The clips and the dataset come from the pretrained run (`rhovid.eval.inherit`); this sets the
    demo's views (2 clips × 1 crop per video, train and test), its kNN k = 20 and the fast probe for
    the linear protocol (what the demo reports). The label is the dataset's `label`, the digit
    (`--config.data.label_key=motion` for the other one).
    """
    if c.task == "finetune":
        raise UserError(
            "configs/eval/finetune.py has no :demo preset; evaluate a demo run with "
            "configs/eval/knn.py:demo or configs/eval/linear.py:demo."
        )
    c.data.num_test_clips, c.data.num_test_crops = 2, 1
    c.batch_size = 64
    e = c.eval
    e.batch_size = 64
    e.tsne_points = 500
    if "k" in e:
        e.k = 20
    if "train_clips" in e:
        e.train_clips, e.train_crops = 2, 1
    if c.task == "linear":
        e.fast = True


def _demo_data(c: ml_collections.ConfigDict) -> None:
    """The demo dataset and the clip settings its network trains and is evaluated at."""
    from rhovid.data.preparation.builders import demo as demo_data  # TFDS, only for the demo

    c.data.name = demo_data.dataset_name()
    c.data.train_split, c.data.eval_split = "train", "test"
    c.data.target_fps = 10.0  # the demo's frame rate: frame_stride counts stored frames
    c.data.num_frames = 4
    c.data.frame_stride = 2
    c.data.crop_size = 32
    # Evaluate on the whole 64² frame resized to the 32² crop (short side 224 in the 224-crop
    # convention = the crop size), at the scale the network saw in training (crops of 60–100 % of
    # the frame). A short side of 448 would cut the centre 32² of the full-resolution frame: the
    # digit, 32 px, would be out of view in most clips (measured: digit probes at chance).
    c.data.eval_short_side = 224
    c.data.eval_crop_size = 224  # the test view is the whole frame, at the training crop size
    c.data.shuffle_buffer = 512
    c.data.flip = False  # digits are not mirror-symmetric
    # Inception-style crops of 60–100 % of the frame: a 32-px digit in a 64-px frame, which the
    # paper's crop areas (0.2–0.77) often miss entirely.
    c.data.crop = "inception"
    c.data.area_range = (0.6, 1.0)
    # No colour augmentation. At 32² the jitter (brightness, contrast, saturation ±60 %, grayscale
    # 20 %) changes a grey digit's contrast to its background more than its shape, and what two
    # clips then share is where the blob is and how fast it moves (benchmarks/demo_diagnosis.py:
    # every method's features were organised by position, 28–46 % of their variance, and 2–3 % by
    # the digit). Measured with colour at the aug+ strength 0.75 -> off, 1000 steps: ρMoCo's digit
    # probe 27.2 -> 44.3 % (random init 27.7), its speed probe 95.8 -> 98.3 %; ρSimCLR at 500 steps
    # 35.2 -> 53.3 % on the digit. Real videos at 224² are another matter: the recipes keep colour.
    c.data.color_strength = 0.75
    c.data.color_prob = 0.0
    c.data.grayscale_prob = 0.0


# ---------------------------------------------------------------------------------------------
# Evaluation configs.


def fast(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """Linear probe: features once + logistic regression (protocol `linear_fast`)."""
    _no_value("fast", value)
    _for_tasks("fast", c, ("linear",))
    c.eval.fast = True


def bn_drift(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """Linear probe: backbone BN statistics drift during training, as the official code lets them."""
    _no_value("bn_drift", value)
    _for_tasks("bn_drift", c, ("linear",))
    c.eval.bn_stats_drift = True


def _dataset(name: str) -> Preset:
    def preset(c: ml_collections.ConfigDict, value: str | None = None) -> None:
        _no_value(name, value)
        _for_tasks(name, c, EVAL_TASKS)
        if c.task == "finetune":
            c.data.name = name  # + "_split<N>" per split (eval.split_pattern)
        else:
            c.data.name, c.data.train_split, c.data.eval_split = f"{name}_split1", "train", "test"

    preset.__doc__ = f"Evaluate on {name} (fine-tuning: its official splits; kNN/linear: split 1)."
    return preset


def split(c: ml_collections.ConfigDict, value: str | None) -> None:
    """Fine-tuning: `split=N`, one official split (1, 2 or 3)."""
    _for_tasks("split", c, ("finetune",))
    c.eval.splits = (_int("split", value),)


def splits(c: ml_collections.ConfigDict, value: str | None) -> None:
    """Fine-tuning: `splits=all` (1, 2, 3: mean and std reported) or `splits=1+3`."""
    _for_tasks("splits", c, ("finetune",))
    if value == "all":
        c.eval.splits = (1, 2, 3)
    else:
        c.eval.splits = tuple(_int("splits", s) for s in (value or "").split("+"))


def cosine(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """Fine-tuning: the official config's cosine schedule at lr 0.01 instead of the paper's steps."""
    _no_value("cosine", value)
    _for_tasks("cosine", c, ("finetune",))
    c.eval.lr_schedule, c.optim.base_lr = "cosine", 0.01


PRESETS: dict[str, Preset] = {
    "tiny": tiny,
    "steps": steps,
    "epochs": epochs,
    "rho": rho,
    "demo": demo,
    "fast": fast,
    "bn_drift": bn_drift,
    "ucf101": _dataset("ucf101"),
    "hmdb51": _dataset("hmdb51"),
    "split": split,
    "splits": splits,
    "cosine": cosine,
}
for _module in ("rhovid.recipes", "rhovid.ablations"):  # optional preset families
    try:
        PRESETS.update(importlib.import_module(_module).PRESETS)
    except ModuleNotFoundError as e:
        if e.name != _module:
            raise


def build_config(method: str, arg: str | None, *, lock: bool = True) -> ml_collections.ConfigDict:
    """`rhovid.config.base_config(method)` with the presets of `arg` applied (locked unless `lock=False`)."""
    from rhovid import config as config_lib

    c = apply(config_lib.base_config(method), arg)
    if not lock:
        c.unlock()
    return c


def apply(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies the comma-separated presets of `--config=file.py:arg` in order; locks the config."""
    for item in filter(None, (arg or "").split(",")):
        key, has_value, value = item.partition("=")
        preset = PRESETS.get(key)
        if preset is None:
            raise UserError(f"Unknown config preset {item!r}; known: {', '.join(sorted(PRESETS))}.")
        preset(c, value if has_value else None)
    c.lock()
    return c
