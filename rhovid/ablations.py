"""Presets for the rows of the paper's study: one knob per preset, composable left to right.

    python -m rhovid.main --config=configs/mocov.py:aug=default,rho=3 ...
    python -m rhovid.main --config=configs/byol.py:aug=default,tmax=0.5 ...
    python -m rhovid.main --config=configs/mocov.py:aug=TC,arch=r101,frames=16x4 ...

Each preset edits one group of settings of a pretraining config; presets apply left to right, so a
later one overrides what an earlier one set (`aug=S,crop=inception` keeps the spatial-off flag set
by `aug=S` for time and colour but puts the Inception crop back). `rhovid.study` names the preset
string of every row of every table.

Augmentation (Fig. 3, Tables 7–9). The pretraining default (`base_config`) is "aug+", the
augmentation of the released models. The paper ran every other ablation with its default
augmentation, `aug=default`. The letters of `aug=<letters>` say which of the three groups stay ON,
each on top of `aug=default`:

  T  temporal: the ρ clips start at independent uniform times over the whole video. Off: the ρ
     clips share one start time (`data.max_clip_distance_s = 0`: identical frames) and no
     frame-rate jitter; they differ only by their own spatial and colour augmentation.
  S  spatial: VGG-style scale jitter (short side U[256, 320], then a random 224² crop) and a
     horizontal flip (p = 0.5), drawn independently per clip. Off: the short side is resized to
     the crop size and the square is cut at a random offset along the long side only (the paper's
     "base"), no flip.
  C  colour: colour jitter (p = 0.8, strength 0.5), grayscale (p = 0.2) and Gaussian blur
     (p = 0.5), drawn independently per clip. Off: none of the three.

`aug=none` switches all three off (the paper's "base"); `aug=TSC` equals `aug=default`.
`aug=plus` is aug+ (Inception crop, area [0.2, 0.766], aspect [3/4, 4/3], colour strength 0.75).

Every preset raises `rhovid.errors.UserError` with one line naming the value and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import ml_collections

from rhovid.errors import UserError

Preset = Callable[[ml_collections.ConfigDict, "str | None"], None]

# Backbones of Table 5: preset value -> (model.arch, model.depth).
ARCHS = {
    "r18": ("slow", 18),
    "r50": ("slow", 50),
    "r101": ("slow", 101),
    "r2plus1d": ("r2plus1d", 50),
    "s3dg": ("s3dg", 50),
}
AUG_LETTERS = "TSC"
REFERENCE_SHORT_SIDE = 224  # data.short_side_range is in pixels of a 224² crop (see augment.py)


def _value(name: str, value: str | None, example: str) -> str:
    if value is None or value == "":
        raise UserError(f"Preset {name} needs a value, e.g. :{name}={example}.")
    return value


def _number(name: str, value: str | None, example: str, lo: float, hi: float | None = None) -> float:
    text = _value(name, value, example)
    try:
        x = float(text)
    except ValueError:
        raise UserError(f"Preset {name}={text!r} needs a number, e.g. :{name}={example}.") from None
    if x < lo or (hi is not None and x > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise UserError(f"Preset {name}={text} must be {bound}, e.g. :{name}={example}.")
    return x


def _integer(name: str, value: str | None, example: str, lo: int) -> int:
    text = _value(name, value, example)
    if not re.fullmatch(r"\d+", text) or int(text) < lo:
        raise UserError(f"Preset {name}={text!r} needs an integer >= {lo}, e.g. :{name}={example}.")
    return int(text)


def _range(name: str, value: str | None, example: str) -> tuple[float, float]:
    text = _value(name, value, example)
    m = re.fullmatch(r"([0-9.]+)-([0-9.]+)", text)
    try:
        lo, hi = (float(m.group(1)), float(m.group(2))) if m else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or not 0 < lo <= hi:
        raise UserError(f"Preset {name}={text!r} needs a range LO-HI with 0 < LO <= HI, e.g. :{name}={example}.")
    return lo, hi


def _no_value(name: str, value: str | None) -> None:
    if value is not None:
        raise UserError(f"Preset {name} takes no value; write :{name}, not :{name}={value}.")


def _pretrain_only(name: str, c: ml_collections.ConfigDict) -> None:
    if c.task not in ("pretrain", "demo"):
        raise UserError(f"Preset {name} is for pretraining configs, not for task {c.task!r}.")


# ---------------------------------------------------------------------------------------------
# Schedule and sampling.


def tmax(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`tmax=S`: at most S seconds between consecutive clip starts (Table 4); `tmax=global`: none.

    Distances are start to start, so `tmax=0` makes the ρ clips coincide.
    """
    _pretrain_only("tmax", c)
    if value in ("global", "inf"):
        c.data.max_clip_distance_s = None
    else:
        c.data.max_clip_distance_s = _number("tmax", value, "0.5", 0.0)


def frames(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`frames=TxTAU`: T frames with stride τ (at 30 fps), e.g. 8x8 (default), 16x4, 4x16."""
    text = _value("frames", value, "16x4")
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"Preset frames={text!r} needs T x τ as TxTAU, e.g. :frames=16x4.")
    c.data.num_frames, c.data.frame_stride = int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------------------------
# Backbone and heads.


def arch(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`arch=r18|r50|r101|r2plus1d|s3dg`: the backbone (Table 5); r* are Slow-pathway ResNets."""
    text = _value("arch", value, "r101")
    if text not in ARCHS:
        raise UserError(f"Preset arch={text!r} is not one of {', '.join(ARCHS)}; e.g. :arch=r101.")
    c.model.arch, c.model.depth = ARCHS[text]


def mlp(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`mlp=N`: N linear layers in the projection MLP (Table 16; N−1 hidden layers)."""
    _pretrain_only("mlp", c)
    c.model.mlp_layers = _integer("mlp", value, "2", 1)


def predictor(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`predictor=N`: N linear layers in BYOL's predictor (Table 16; default 2)."""
    _pretrain_only("predictor", c)
    if c.method != "byol":
        raise UserError(f"Preset predictor is for byol (the only method with a predictor), not {c.method!r}.")
    c.model.predictor_layers = _integer("predictor", value, "3", 1)


def momentum(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`momentum=M`: the momentum encoder's m_base (Table 15; MoCo and BYOL)."""
    _momentum_method("momentum", c)
    c.objective.momentum_base = _number("momentum", value, "0.99", 0.0, 1.0)


def no_momentum_anneal(c: ml_collections.ConfigDict, value: str | None = None) -> None:
    """`no_momentum_anneal`: keep the momentum at m_base instead of annealing it to 1 (Table 15)."""
    _no_value("no_momentum_anneal", value)
    _momentum_method("no_momentum_anneal", c)
    c.objective.momentum_anneal = False


def _momentum_method(name: str, c: ml_collections.ConfigDict) -> None:
    if c.method not in ("moco", "byol"):
        raise UserError(f"Preset {name} is for moco and byol (momentum encoders), not {c.method!r}.")


# ---------------------------------------------------------------------------------------------
# Augmentation.


def _default_aug(c: ml_collections.ConfigDict) -> None:
    d = c.data
    d.crop = "vgg"
    d.short_side_range = (256, 320)
    d.area_range = (0.2, 0.766)
    d.aspect_range = (0.75, 4.0 / 3.0)
    d.flip = True
    d.color_strength = 0.5
    d.color_prob = 0.8
    d.grayscale_prob = 0.2
    d.blur_prob = 0.5
    d.max_clip_distance_s = None
    d.min_clip_distance_s = None
    d.fps_jitter = 0.0
    d.time_diff_prob = 0.0


def aug(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`aug=default|plus|none|<letters of TSC>`: the augmentation recipe (see the module docstring)."""
    _pretrain_only("aug", c)
    text = _value("aug", value, "TC")
    letters = {"default": AUG_LETTERS, "none": ""}.get(text, text)
    if text == "plus":
        _default_aug(c)
        c.data.crop = "inception"
        c.data.color_strength = 0.75
        return
    if not re.fullmatch(r"T?S?C?", letters):
        raise UserError(
            f"Preset aug={text!r}: use default, plus, none, or the augmentations to keep "
            "in the order T, S, C (e.g. TS, TC, SC, S)."
        )
    _default_aug(c)
    if "T" not in letters:
        c.data.max_clip_distance_s = 0.0
    if "S" not in letters:
        c.data.crop = "vgg"
        c.data.short_side_range = (REFERENCE_SHORT_SIDE, REFERENCE_SHORT_SIDE)
        c.data.flip = False
    if "C" not in letters:
        c.data.color_prob = c.data.grayscale_prob = c.data.blur_prob = 0.0


def color(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`color=S`: colour-jitter strength s, (b, c, s, h) = (0.8s, 0.8s, 0.8s, 0.2s) (Table 7)."""
    _pretrain_only("color", c)
    c.data.color_strength = _number("color", value, "0.75", 0.0, 1.25)


def gray(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`gray=P`: grayscale probability (Table 7)."""
    _pretrain_only("gray", c)
    c.data.grayscale_prob = _number("gray", value, "0.4", 0.0, 1.0)


def timediff(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`timediff=P`: temporal-difference augmentation with probability P (Table 7)."""
    _pretrain_only("timediff", c)
    c.data.time_diff_prob = _number("timediff", value, "0.2", 0.0, 1.0)


def fpsjitter(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`fpsjitter=J`: each clip's frame rate scaled by U[1−J, 1+J] (Table 7: 0.5)."""
    _pretrain_only("fpsjitter", c)
    j = _number("fpsjitter", value, "0.5", 0.0)
    if j >= 1.0:
        raise UserError(f"Preset fpsjitter={value} must be below 1, e.g. :fpsjitter=0.5.")
    c.data.fps_jitter = j


def crop(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`crop=vgg|inception`: VGG scale jitter + crop, or the Inception random-resized crop (Table 8)."""
    _pretrain_only("crop", c)
    text = _value("crop", value, "inception")
    if text not in ("vgg", "inception"):
        raise UserError(f"Preset crop={text!r}: use crop=vgg or crop=inception.")
    c.data.crop = text
    if text == "vgg":
        c.data.short_side_range = (256, 320)


def area(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`area=LO-HI`: area fraction of the Inception crop (Table 8), e.g. 0.2-0.766; sets crop=inception."""
    _pretrain_only("area", c)
    lo, hi = _range("area", value, "0.2-0.766")
    if hi > 1:
        raise UserError(f"Preset area={value}: the area fraction cannot exceed 1, e.g. :area=0.2-0.766.")
    c.data.crop, c.data.area_range = "inception", (lo, hi)


def aspect(c: ml_collections.ConfigDict, value: str | None) -> None:
    """`aspect=LO-HI` or `aspect=1` (no aspect jitter): aspect range of the Inception crop (Table 8)."""
    _pretrain_only("aspect", c)
    c.data.aspect_range = (1.0, 1.0) if value == "1" else _range("aspect", value, "0.75-1.333")


PRESETS: dict[str, Preset] = {
    "tmax": tmax,
    "frames": frames,
    "arch": arch,
    "mlp": mlp,
    "predictor": predictor,
    "momentum": momentum,
    "no_momentum_anneal": no_momentum_anneal,
    "aug": aug,
    "color": color,
    "gray": gray,
    "timediff": timediff,
    "fpsjitter": fpsjitter,
    "crop": crop,
    "area": area,
    "aspect": aspect,
}
