"""Input processing on the accelerator (JAX, inside the jitted steps): normalisation and colour.

`normalize` turns the uint8 clips every reader delivers into the network's float input (every
step, training and evaluation, calls it); `preprocess` adds the colour augmentation first when
it runs on the device, and with `config.data.crop_on_device` the crop, resize and flip before it
(`crop_resize_flip`: the host then sends each view's frames decoded inside its crop window, and
the window's size, and skips the resize, its largest per-clip cost after decoding).

With `config.data.color_on_device`, the host sends uint8 crops (4× fewer bytes than float32) that
are only cropped, resized and flipped, and the train step calls `color_augment` on the [0, 1]
floats before normalising: colour jitter, grayscale and Gaussian blur (the blur moves too: on a
CPU it costs more than decoding the frames, on an accelerator next to nothing).

The operations and the parameter dictionary are those of `rhovid.data.reading.augment` (torchvision
definitions: brightness multiplies, contrast blends with the clip's mean gray, saturation blends
with the pixel's gray, hue rotates in HSV, each clipped to [0, 1], in a random order per clip, then
grayscale; blur σ ~ U[blur_sigma]·crop/224 with reflect borders), so both paths give the same
distribution; tests feed both the same parameters and compare outputs.

The per-clip random order is computed branch-free (every op evaluated, the chosen one selected):
elementwise work that XLA fuses, negligible beside the encoder.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp


def normalize(clips: jax.Array, data_cfg: Any) -> jax.Array:
    """uint8 (or [0, 1] float) clips -> float32 normalised with the dataset mean and std."""
    x = clips.astype(jnp.float32)
    if clips.dtype == jnp.uint8:
        x = x / 255.0
    return (x - data_cfg.mean) / data_cfg.std


def preprocess(clips: jax.Array, rng: jax.Array, data_cfg: Any, crop: jax.Array | None = None) -> jax.Array:
    """[N, T, H, W, 3] uint8 -> float32 network input, colour-augmented here if `color_on_device`.

    With `crop` (int32 [N, 3], `config.data.crop_on_device`), `clips` are canvases
    [N, T, Hc, Wc, 3] that `crop_resize_flip` turns into the S² views first.
    """
    if crop is not None:
        x = crop_resize_flip(clips, crop, data_cfg.crop_size) / 255.0
    elif not data_cfg.color_on_device:
        return normalize(clips, data_cfg)
    else:
        x = clips.astype(jnp.float32) / 255.0
    if data_cfg.color_on_device:
        x = color_augment(rng, x, data_cfg)
    return normalize(x, data_cfg)


def _resize_taps(n_in: jax.Array, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Bilinear taps of `size` outputs from `n_in` inputs, half-pixel centres (tf.image.resize).

    Output i reads input c = (i + 0.5)·n_in/size − 0.5 between rows floor(c) and floor(c) + 1
    (both clamped to [0, n_in − 1]) with weight c − floor(c) on the second. Returns (lo, hi)
    int32 [size] and that weight, float32 [size].
    """
    scale = n_in.astype(jnp.float32) / size
    c = (jnp.arange(size, dtype=jnp.float32) + 0.5) * scale - 0.5
    f = jnp.floor(c)
    lo = jnp.clip(f, 0, n_in - 1).astype(jnp.int32)
    hi = jnp.clip(f + 1, 0, n_in - 1).astype(jnp.int32)
    return lo, hi, c - f


def crop_resize_flip(canvas: jax.Array, crop: jax.Array, size: int) -> jax.Array:
    """Each clip's window resized to size² (bilinear) and flipped where asked, on device.

    Args:
      canvas: uint8 [N, T, Hc, Wc, 3]; clip n's frames occupy [:h_n, :w_n] (the reader's
        `frames.views` with a canvas).
      crop: int32 [N, 3], (h_n, w_n, flip_n).
      size: S, the crop size.

    Returns:
      float32 [N, T, S, S, 3] in [0, 255]: what tf.image.resize(canvas[n, :, :h, :w], (S, S))
      gives (the same half-pixel taps, the same arithmetic: interpolate along the width, then the
      height), reversed along the width where flip_n.
    """

    def one(x, geometry):  # [T, Hc, Wc, 3], [3]
        h, w, flip = geometry[0], geometry[1], geometry[2] > 0
        ylo, yhi, ly = _resize_taps(h, size)
        xlo, xhi, lx = _resize_taps(w, size)
        xlo, xhi, lx = (jnp.where(flip, a[::-1], a) for a in (xlo, xhi, lx))  # the flip, in the taps
        x = x.astype(jnp.float32)
        lx = lx[:, None]

        def along_width(rows):  # [T, S, Wc, 3] -> [T, S, S, 3]
            left, right = jnp.take(rows, xlo, axis=2), jnp.take(rows, xhi, axis=2)
            return left + (right - left) * lx

        top = along_width(jnp.take(x, ylo, axis=1))
        bottom = along_width(jnp.take(x, yhi, axis=1))
        return top + (bottom - top) * ly[:, None, None]

    return jax.vmap(one)(canvas, crop)


GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # as augment.GRAY_WEIGHTS (torchvision)
ColorParams = dict[str, jax.Array]


def sample_color_params(
    rng: jax.Array, num_clips: int, strength: float, prob: float, grayscale_prob: float
) -> ColorParams:
    """Random colour parameters for `num_clips` clips; same keys and ranges as the tf twin.

    (brightness, contrast, saturation, hue) = (0.8s, 0.8s, 0.8s, 0.2s), s = `strength`.

    Returns:
      apply bool [N], order int32 [N, 4], brightness/contrast/saturation/hue float32 [N],
      grayscale bool [N].
    """
    ks = jax.random.split(rng, 7)
    amp = 0.8 * strength
    hue = min(0.2 * strength, 0.5)

    def factor(k):
        return jax.random.uniform(k, (num_clips,), minval=max(0.0, 1 - amp), maxval=1 + amp)

    return {
        "apply": jax.random.uniform(ks[0], (num_clips,)) < prob,
        "order": jnp.argsort(jax.random.uniform(ks[1], (num_clips, 4)), axis=1).astype(jnp.int32),
        "brightness": factor(ks[2]),
        "contrast": factor(ks[3]),
        "saturation": factor(ks[4]),
        "hue": jax.random.uniform(ks[5], (num_clips,), minval=-hue, maxval=hue),
        "grayscale": jax.random.uniform(ks[6], (num_clips,)) < grayscale_prob,
    }


def gray(x: jax.Array) -> jax.Array:
    """[..., 3] -> [..., 1] luma."""
    return jnp.sum(x * jnp.asarray(GRAY_WEIGHTS, x.dtype), axis=-1, keepdims=True)


def _b(v: jax.Array) -> jax.Array:
    """Per-clip scalar [N] -> broadcastable [N, 1, 1, 1, 1]."""
    return v.reshape(v.shape + (1, 1, 1, 1))


def adjust_brightness(x: jax.Array, factor: jax.Array) -> jax.Array:
    return jnp.clip(x * _b(factor), 0.0, 1.0)


def adjust_contrast(x: jax.Array, factor: jax.Array) -> jax.Array:
    """Blend every clip [T, H, W, 3] with its mean gray level."""
    mean = jnp.mean(gray(x), axis=(1, 2, 3, 4), keepdims=True)  # [N, 1, 1, 1, 1]
    return jnp.clip(_b(factor) * x + (1.0 - _b(factor)) * mean, 0.0, 1.0)


def adjust_saturation(x: jax.Array, factor: jax.Array) -> jax.Array:
    return jnp.clip(_b(factor) * x + (1.0 - _b(factor)) * gray(x), 0.0, 1.0)


def adjust_hue(x: jax.Array, delta: jax.Array) -> jax.Array:
    """Rotate hue by `delta` (fraction of the circle): RGB -> HSV, h += delta mod 1, -> RGB."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = jnp.max(x, axis=-1)
    vmin = jnp.min(x, axis=-1)
    c = v - vmin
    safe_c = jnp.where(c > 0, c, 1.0)
    h = jnp.where(
        v == r,
        (g - b) / safe_c,
        jnp.where(v == g, (b - r) / safe_c + 2.0, (r - g) / safe_c + 4.0),
    )
    h = jnp.where(c > 0, h / 6.0, 0.0)
    h = jnp.mod(h + delta.reshape(delta.shape + (1, 1, 1)), 1.0)
    # HSV -> RGB with value v and chroma c: channel k = v − c·clip(min(q, 4−q), 0, 1),
    # q = (n + 6h) mod 6 with n = 5, 3, 1 for R, G, B.
    out = []
    for n in (5.0, 3.0, 1.0):
        q = jnp.mod(n + 6.0 * h, 6.0)
        out.append(v - c * jnp.clip(jnp.minimum(q, 4.0 - q), 0.0, 1.0))
    return jnp.clip(jnp.stack(out, axis=-1), 0.0, 1.0)


def apply_color(x: jax.Array, params: ColorParams) -> jax.Array:
    """Colour jitter (per-clip random order, p=`apply`) then grayscale.

    Args:
      x: float32 [N, T, H, W, 3] in [0, 1].
      params: from `sample_color_params` (or the tf twin's, as arrays), N entries.

    Returns:
      float32 [N, T, H, W, 3] in [0, 1].
    """
    y = x
    order = jnp.asarray(params["order"])
    for j in range(4):
        op = _b(order[:, j])
        y = jnp.where(
            op == 0,
            adjust_brightness(y, params["brightness"]),
            jnp.where(
                op == 1,
                adjust_contrast(y, params["contrast"]),
                jnp.where(
                    op == 2,
                    adjust_saturation(y, params["saturation"]),
                    adjust_hue(y, params["hue"]),
                ),
            ),
        )
    y = jnp.where(_b(jnp.asarray(params["apply"])), y, x)
    return jnp.where(_b(jnp.asarray(params["grayscale"])), jnp.broadcast_to(gray(y), y.shape), y)


def blur_radius(max_sigma: float, height: int, width: int) -> int:
    """Static kernel radius ceil(3·max_sigma), capped by the frame (as augment.gaussian_blur)."""
    return max(1, min(math.ceil(3 * max_sigma), height - 1, width - 1))


def gaussian_blur(x: jax.Array, sigma: jax.Array, radius: int) -> jax.Array:
    """Separable Gaussian blur of clips x [N, T, H, W, 3] with per-clip σ [N], reflect borders."""
    taps = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    k = jnp.exp(-0.5 * jnp.square(taps[None, :] / jnp.maximum(sigma, 1e-3)[:, None]))
    k = k / jnp.sum(k, axis=1, keepdims=True)  # [N, 2r+1]

    def along(y, axis):
        pad = [(0, 0)] * y.ndim
        pad[axis] = (radius, radius)
        yp = jnp.pad(y, pad, mode="reflect")
        size = y.shape[axis]
        return sum(_b(k[:, i]) * jax.lax.slice_in_dim(yp, i, i + size, axis=axis) for i in range(2 * radius + 1))

    return along(along(x, 3), 2)


def color_augment(rng: jax.Array, x: jax.Array, data_cfg: Any) -> jax.Array:
    """The pretraining photometric augmentation of `data_cfg`, on device.

    Colour jitter (p=color_prob, strength color_strength), grayscale (p=grayscale_prob), then
    Gaussian blur (p=blur_prob, σ ~ U[blur_sigma]·crop_size/224): everything the host leaves out
    when `data_cfg.color_on_device`.

    Args:
      rng: a JAX PRNG key (fold in the step; nothing host-dependent).
      x: float32 [N, T, H, W, 3] in [0, 1]; N clips, each with its own parameters, shared by
        its T frames.
      data_cfg: `config.data`.

    Returns:
      float32 [N, T, H, W, 3] in [0, 1].
    """
    k_color, k_blur, k_sigma = jax.random.split(rng, 3)
    n = x.shape[0]
    params = sample_color_params(k_color, n, data_cfg.color_strength, data_cfg.color_prob, data_cfg.grayscale_prob)
    y = apply_color(x, params)
    if data_cfg.blur_prob > 0:
        lo, hi = (s * data_cfg.crop_size / 224 for s in data_cfg.blur_sigma)
        sigma = jax.random.uniform(k_sigma, (n,), minval=lo, maxval=hi)
        blurred = gaussian_blur(y, sigma, blur_radius(hi, x.shape[2], x.shape[3]))
        y = jnp.where(_b(jax.random.uniform(k_blur, (n,)) < data_cfg.blur_prob), blurred, y)
    return y
