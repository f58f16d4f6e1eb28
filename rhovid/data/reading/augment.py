"""Per-clip augmentations on the host (TensorFlow, inside tf.data), docs/method.md §3.

Every random choice is made once per clip, from a stateless seed, and applied identically to the
clip's T frames; the ρ clips of a video draw independently. The crop is chosen before decoding, as
a window in the stored frame (`inception_crop_window`, `vgg_crop_window`, `eval_crop_windows`), so
the reader can decode just that window (`tf.io.decode_and_crop_jpeg`) and resize it.

Colour jitter and grayscale follow torchvision's definitions (brightness multiplies, contrast blends
with the clip's mean gray level, saturation blends with the per-pixel gray, hue rotates in HSV,
gray = 0.2989 R + 0.587 G + 0.114 B, each step clipped to [0, 1], the four jitters in a random
order per clip). `rhovid.data.reading.device_augment` implements the same operations (and the blur) in JAX,
with the same parameter dictionary, so with `config.data.color_on_device` they run on the
accelerator instead and the host only crops, resizes and flips (with `config.data.crop_on_device`
not even that: it decodes the window and the step does the rest); tests feed both the same parameters
and compare.

Sizes that the paper gives for 224² crops (the short-side range [256, 320], the blur σ) are scaled
by crop_size/224, so a 32² tiny config sees the same relative geometry as the 224² recipe.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import tensorflow as tf

from rhovid.data.reading import sampling

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale (ITU-R 601-2 luma)
REFERENCE_CROP = 224  # the crop size the paper's pixel sizes refer to
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3  # op ids in `order`
CROP_TRIES = 10  # inception crop: tries before the centre-crop fallback
ColorParams = dict[str, Any]  # apply, order, brightness, contrast, saturation, hue, grayscale


def scale_to_crop(pixels: float, crop_size: int) -> float:
    """A size given for 224² crops, rescaled for `crop_size` crops."""
    return pixels * crop_size / REFERENCE_CROP


def eval_crop_size(data_cfg: Any) -> int:
    """C_eval, the side of the test crops: `data.eval_crop_size` (given for 224² training crops,
    256 by default as in the paper) rescaled for `data.crop_size` crops. The backbone pools
    globally, so it takes the larger views as they are. A run whose config predates the field
    was evaluated at crop_size."""
    return round(scale_to_crop(data_cfg.get("eval_crop_size", REFERENCE_CROP), data_cfg.crop_size))


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The host-side augmentation settings, read once from `config.data`."""

    crop_size: int
    crop: str = "inception"  # inception | vgg | center (no spatial augmentation)
    area_range: tuple[float, float] = (0.2, 0.766)
    aspect_range: tuple[float, float] = (0.75, 4.0 / 3.0)
    short_side_range: tuple[float, float] = (256, 320)  # already scaled to crop_size
    flip: bool = True
    color: bool = True  # colour jitter + grayscale here (False: on the device, or none)
    # With config.data.color_on_device the blur moves to the device too (blur_prob = 0 here).
    color_strength: float = 0.75
    color_prob: float = 0.8
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # already scaled to crop_size
    time_diff_prob: float = 0.0
    color_xla: bool = False  # host colour jitter compiled by XLA (config.data.color_xla)

    @classmethod
    def pretrain(cls, data_cfg: Any) -> AugmentConfig:
        """The ρ-clip pretraining augmentation of `data_cfg` (docs/method.md §3.1–3.2)."""
        if data_cfg.crop not in ("inception", "vgg"):
            raise ValueError(f"config.data.crop={data_cfg.crop!r}; use 'inception' (aug+) or 'vgg'.")
        c = data_cfg.crop_size
        return cls(
            crop_size=c,
            crop=data_cfg.crop,
            area_range=tuple(data_cfg.area_range),
            aspect_range=tuple(data_cfg.aspect_range),
            short_side_range=tuple(scale_to_crop(s, c) for s in data_cfg.short_side_range),
            flip=data_cfg.flip,
            color=not data_cfg.color_on_device,
            color_strength=data_cfg.color_strength,
            color_prob=data_cfg.color_prob,
            grayscale_prob=data_cfg.grayscale_prob,
            blur_prob=0.0 if data_cfg.color_on_device else data_cfg.blur_prob,
            blur_sigma=tuple(scale_to_crop(s, c) for s in data_cfg.blur_sigma),
            time_diff_prob=data_cfg.time_diff_prob,
            color_xla=bool(data_cfg.get("color_xla", False)),
        )

    @classmethod
    def supervised(cls, data_cfg: Any, color: bool) -> AugmentConfig:
        """Linear-probe / fine-tune training views (docs/method.md §5): short-side jitter, crop, flip.

        With `color`, the UCF101 fine-tuning jitter: (0.4, 0.4, 0.4, 0.1) always applied
        (strength 0.5, p=1) and grayscale p=0.2; no blur.
        """
        c = data_cfg.crop_size
        return cls(
            crop_size=c,
            crop="vgg",
            short_side_range=tuple(scale_to_crop(s, c) for s in data_cfg.short_side_range),
            flip=data_cfg.flip,
            color=color,
            color_strength=0.5,
            color_prob=1.0,
            grayscale_prob=0.2,
        )


# ----------------------------------------------------------------------------------------------
# Crop windows, in the stored frame's pixels: int32 [4] = (y, x, height, width).


def inception_crop_window(
    key: sampling.Key,
    height: tf.Tensor,
    width: tf.Tensor,
    area_range: tuple[float, float],
    aspect_range: tuple[float, float],
) -> tf.Tensor:
    """Random-resized-crop window: area fraction U[area_range], aspect log-uniform.

    Tries `CROP_TRIES` candidates and keeps the first that fits; if none fits, the centre square
    of side min(height, width) (PySlowFast's fallback).
    """
    k_area, k_aspect, k_y, k_x = sampling.split_key(key, 4)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = h * w * tf.random.stateless_uniform([CROP_TRIES], k_area, minval=area_range[0], maxval=area_range[1])
    log_a = tf.random.stateless_uniform(
        [CROP_TRIES], k_aspect, minval=math.log(aspect_range[0]), maxval=math.log(aspect_range[1])
    )
    cw = tf.round(tf.sqrt(area * tf.exp(log_a)))  # [tries]
    ch = tf.round(tf.sqrt(area / tf.exp(log_a)))
    fits = (cw <= w) & (ch <= h) & (cw >= 1) & (ch >= 1)
    first = tf.argmax(tf.cast(fits, tf.int32))
    side = tf.minimum(h, w)
    ch = tf.where(tf.reduce_any(fits), ch[first], side)
    cw = tf.where(tf.reduce_any(fits), cw[first], side)
    y = _uniform_offset(k_y, h - ch)
    x = _uniform_offset(k_x, w - cw)
    y = tf.where(tf.reduce_any(fits), y, tf.floor((h - ch) / 2))
    x = tf.where(tf.reduce_any(fits), x, tf.floor((w - cw) / 2))
    return tf.cast(tf.stack([y, x, ch, cw]), tf.int32)


def vgg_crop_window(
    key: sampling.Key,
    height: tf.Tensor,
    width: tf.Tensor,
    crop_size: int,
    short_side_range: tuple[float, float],
) -> tf.Tensor:
    """Short side resized to S ~ U[short_side_range] (integer), then a random crop_size² crop.

    Expressed in the stored frame: a square of side crop_size·min(h, w)/S at a uniform offset.
    """
    k_s, k_y, k_x = sampling.split_key(key, 3)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    lo, hi = round(short_side_range[0]), round(short_side_range[1])
    s = tf.cast(tf.random.stateless_uniform([], k_s, minval=lo, maxval=hi + 1, dtype=tf.int32), tf.float32)
    side = tf.minimum(tf.round(crop_size * tf.minimum(h, w) / s), tf.minimum(h, w))
    y = _uniform_offset(k_y, h - side)
    x = _uniform_offset(k_x, w - side)
    return tf.cast(tf.stack([y, x, side, side]), tf.int32)


def eval_crop_windows(
    height: tf.Tensor, width: tf.Tensor, crop_size: int, short_side: float, num_crops: int
) -> tf.Tensor:
    """Deterministic test crops: short side resized to `short_side`, crop_size² crops spaced
    evenly along the long side (3 crops: left/centre/right, or top/centre/bottom), centred on
    the short side; one crop is the centre crop.

    Returns:
      int32 [num_crops, 4] windows in the stored frame.
    """
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    side = tf.minimum(tf.round(crop_size * tf.minimum(h, w) / short_side), tf.minimum(h, w))
    if num_crops == 1:
        frac = tf.constant([0.5])
    else:
        frac = tf.range(num_crops, dtype=tf.float32) / (num_crops - 1)  # [S]
    along = tf.floor(frac * (tf.maximum(h, w) - side))  # offsets along the long side
    across = tf.fill([num_crops], tf.floor((tf.minimum(h, w) - side) / 2))
    portrait = h > w
    y = tf.where(portrait, along, across)
    x = tf.where(portrait, across, along)
    sides = tf.fill([num_crops], side)
    return tf.cast(tf.stack([y, x, sides, sides], axis=1), tf.int32)


def _uniform_offset(key: sampling.Key, room: tf.Tensor) -> tf.Tensor:
    """An integer offset uniform in [0, room] (float32)."""
    u = tf.random.stateless_uniform([], key)
    return tf.minimum(tf.floor(u * (tf.maximum(room, 0.0) + 1.0)), tf.maximum(room, 0.0))


def crop_and_resize(frames: tf.Tensor, window: tf.Tensor | None, size: int, unit: bool = True) -> tf.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, size, size, 3]: cut `window`, resize bilinearly.

    Values in [0, 1] (`unit`) or, to skip two passes when the result goes straight back to uint8,
    in [0, 255].
    """
    if window is not None:
        frames = frames[:, window[0] : window[0] + window[2], window[1] : window[1] + window[3]]
    out = tf.image.resize(frames, (size, size), method="bilinear")  # float32, within [0, 255]
    return tf.clip_by_value(out / 255.0, 0.0, 1.0) if unit else out


# ----------------------------------------------------------------------------------------------
# Colour: parameters, then application (identical definitions in device_augment.py).


def sample_color_params(
    key: sampling.Key, num_clips: int, strength: float, prob: float, grayscale_prob: float
) -> ColorParams:
    """Random colour-jitter parameters for `num_clips` clips.

    (brightness, contrast, saturation, hue) = (0.8s, 0.8s, 0.8s, 0.2s) with s = `strength`:
    factors U[max(0, 1−0.8s), 1+0.8s], hue shift U[−0.2s, 0.2s] (fraction of the colour circle).

    Returns:
      dict of apply bool [N] (jitter happens, p=`prob`), order int32 [N, 4] (op ids in the
      order applied), brightness/contrast/saturation/hue float32 [N], grayscale bool [N].
    """
    ks = sampling.split_key(key, 7)
    amp = 0.8 * strength
    hue = min(0.2 * strength, 0.5)

    def factor(k):
        return tf.random.stateless_uniform([num_clips], k, minval=max(0.0, 1 - amp), maxval=1 + amp)

    return {
        "apply": tf.random.stateless_uniform([num_clips], ks[0]) < prob,
        "order": tf.cast(tf.argsort(tf.random.stateless_uniform([num_clips, 4], ks[1]), axis=1), tf.int32),
        "brightness": factor(ks[2]),
        "contrast": factor(ks[3]),
        "saturation": factor(ks[4]),
        "hue": tf.random.stateless_uniform([num_clips], ks[5], minval=-hue, maxval=hue),
        "grayscale": tf.random.stateless_uniform([num_clips], ks[6]) < grayscale_prob,
    }


def gray(x: tf.Tensor) -> tf.Tensor:
    """[..., 3] -> [..., 1] luma with torchvision's weights (a matrix product: 3× faster on CPU)."""
    return tf.tensordot(x, tf.constant(GRAY_WEIGHTS, x.dtype)[:, None], 1)


def adjust_brightness(x: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(x * factor, 0.0, 1.0)


def adjust_contrast(x: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Blend with the mean gray level of the whole clip [T, H, W, 3]."""
    mean = tf.tensordot(tf.reduce_mean(x, axis=[0, 1, 2]), tf.constant(GRAY_WEIGHTS, x.dtype), 1)
    return tf.clip_by_value(factor * x + (1.0 - factor) * mean, 0.0, 1.0)


def adjust_saturation(x: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(factor * x + (1.0 - factor) * gray(x), 0.0, 1.0)


def adjust_hue(x: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
    """Rotate hue by `delta` (fraction of the circle) in HSV space."""
    return tf.clip_by_value(tf.image.adjust_hue(x, delta), 0.0, 1.0)


def apply_color(clips: tf.Tensor, params: ColorParams, xla: bool = False) -> tf.Tensor:
    """Colour jitter (random order) then grayscale, per clip.

    Args:
      clips: float32 [N, T, H, W, 3] in [0, 1].
      params: from `sample_color_params` (or the JAX twin's, as numpy), N entries.
      xla: run each clip's jitter as one XLA-compiled function (`config.data.color_xla`).

    Returns:
      float32 [N, T, H, W, 3] in [0, 1].
    """
    one = _color_one_xla if xla else _color_one
    return tf.stack([one(clips[i], {k: v[i] for k, v in params.items()}) for i in range(clips.shape[0])])


def _color_one(x: tf.Tensor, p: ColorParams) -> tf.Tensor:
    """One clip [T, H, W, 3]; branches so only the chosen ops run (cheap on a CPU)."""
    ops = [
        lambda y: adjust_brightness(y, p["brightness"]),
        lambda y: adjust_contrast(y, p["contrast"]),
        lambda y: adjust_saturation(y, p["saturation"]),
        lambda y: adjust_hue(y, p["hue"]),
    ]

    def jitter():
        def step(j, y):
            y = tf.switch_case(tf.gather(p["order"], j), [lambda op=op: op(y) for op in ops])
            return j + 1, tf.ensure_shape(y, x.shape)

        return tf.while_loop(lambda j, _: j < 4, step, (tf.constant(0), x))[1]

    y = tf.cond(tf.cast(p["apply"], tf.bool), jitter, lambda: x)
    return tf.cond(tf.cast(p["grayscale"], tf.bool), lambda: tf.tile(gray(y), [1, 1, 1, 3]), lambda: y)


# XLA fuses the jitter's elementwise passes (blend, clip, gray, HSV) into a few loops: 2.4× less
# CPU time per 8×224² clip than TensorFlow's op-by-op kernels. The parameters are drawn outside
# it (TensorFlow's stateless draws), so the clips stay a function of the seed; the pixels may
# differ from `_color_one`'s by a grey level (float arithmetic in another order).
_color_one_xla = tf.function(_color_one, jit_compile=True, reduce_retracing=True)


# ----------------------------------------------------------------------------------------------
# Blur, flip, temporal difference.


def blur_matrix(size: int, sigma: tf.Tensor, radius: int) -> tf.Tensor:
    """[size, size] matrix M with (x @ M) = x blurred along its last axis.

    Gaussian taps exp(−t²/2σ²), |t| <= radius, normalised; borders reflect (…, 2, 1, 0, 1, 2, …).
    """
    taps = tf.range(-radius, radius + 1)
    k = tf.exp(-0.5 * tf.square(tf.cast(taps, tf.float32) / tf.maximum(sigma, 1e-3)))
    k /= tf.reduce_sum(k)  # [2r+1]
    src = tf.abs(tf.range(size)[None, :] + taps[:, None])  # [2r+1, size] source of each output
    src = tf.where(src >= size, 2 * (size - 1) - src, src)
    return tf.reduce_sum(k[:, None, None] * tf.one_hot(src, size, axis=1), axis=0)


def gaussian_blur(clip: tf.Tensor, sigma: tf.Tensor, max_sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of every frame of a clip [T, H, W, 3], reflect padding.

    The kernel radius is ceil(3·max_sigma) (static), capped by the frame size. Written as two
    matrix products with banded matrices: on a CPU that is 3× faster than a depthwise convolution.
    """
    t, h, w, c = clip.shape
    radius = max(1, min(math.ceil(3 * max_sigma), h - 1, w - 1))
    y = tf.reshape(tf.transpose(clip, [0, 3, 1, 2]), [t * c * h, w])  # rows of pixels
    y = y @ blur_matrix(w, sigma, radius)  # along W
    y = tf.linalg.matmul(blur_matrix(h, sigma, radius), tf.reshape(y, [t * c, h, w]), transpose_a=True)
    return tf.transpose(tf.reshape(y, [t, c, h, w]), [0, 2, 3, 1])


def time_difference(frames: tf.Tensor, next_frames: tf.Tensor) -> tf.Tensor:
    """Temporal-difference clip (paper Table 7): gray(next) − gray(frame), mapped to [0, 1].

    Args:
      frames, next_frames: float32 [T, H, W, 3] in [0, 1]; next_frames[t] is the stored frame
        right after frames[t].

    Returns:
      float32 [T, H, W, 3], (difference + 1)/2 in all three channels.
    """
    d = (gray(next_frames) - gray(frames) + 1.0) / 2.0
    return tf.tile(d, [1, 1, 1, 3])


def random_flip(key: sampling.Key, clip: tf.Tensor) -> tf.Tensor:
    """Horizontal flip of a whole clip [T, H, W, C] with p=0.5."""
    flip = tf.random.stateless_uniform([], key) < 0.5
    return tf.cond(flip, lambda: tf.reverse(clip, axis=[2]), lambda: clip)


def augment_clip(key: sampling.Key, clip: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """Flip, colour and blur (those on the host): one draw for the whole clip [T, S, S, 3]."""
    k_flip, k_color, k_blur, k_sigma = sampling.split_key(key, 4)
    if cfg.flip:
        clip = random_flip(k_flip, clip)
    if cfg.color and (cfg.color_prob > 0 or cfg.grayscale_prob > 0):
        params = sample_color_params(k_color, 1, cfg.color_strength, cfg.color_prob, cfg.grayscale_prob)
        clip = apply_color(clip[None], params, xla=cfg.color_xla)[0]
    if cfg.blur_prob > 0:
        sigma = tf.random.stateless_uniform([], k_sigma, minval=cfg.blur_sigma[0], maxval=cfg.blur_sigma[1])
        blur = tf.random.stateless_uniform([], k_blur) < cfg.blur_prob
        clip = tf.cond(blur, lambda: gaussian_blur(clip, sigma, cfg.blur_sigma[1]), lambda: clip)
    return clip


def flip_only(key: sampling.Key, clip: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """What `augment_clip` does when no photometric op runs on the host (any dtype)."""
    return random_flip(sampling.split_key(key, 4)[0], clip) if cfg.flip else clip


def photometric_on_host(cfg: AugmentConfig) -> bool:
    """Whether the host changes pixel values (else crops travel as resized uint8 untouched)."""
    has_color = cfg.color and (cfg.color_prob > 0 or cfg.grayscale_prob > 0)
    return has_color or cfg.blur_prob > 0 or cfg.time_diff_prob > 0


def to_uint8(x: tf.Tensor) -> tf.Tensor:
    """float [0, 1] -> uint8, rounded."""
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0), tf.uint8)
