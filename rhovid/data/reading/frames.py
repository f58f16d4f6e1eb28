"""Decoding only what is used: the sampled frames of a record, each straight into its crop window.

Per video, `sampling` chooses the frame indices and `augment` the crop window before decoding;
only those ρ×T frames are decoded, each into its window (`tf.io.decode_and_crop_jpeg`). `views`
turns one record into its augmented uint8 views. `count_decodes` counts decoded vs delivered
frames, so tests and benchmarks can check that nothing is decoded in vain.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import tensorflow as tf

from rhovid.data import records
from rhovid.data.reading import augment, sampling

# libjpeg's fast integer IDCT: ~15% more clips per core than the accurate one, for differences of
# a gray level or two that no augmented clip will notice (used for training and test alike).
_DCT_METHOD = "INTEGER_FAST"
_COUNTERS: list[DecodeCount] = []  # set by `count_decodes` (tests, benchmarks)


@dataclasses.dataclass(frozen=True)
class DecodeCount:
    """JPEG frames decoded, and frames delivered in clips, by pipelines built under `count_decodes`."""

    decoded: tf.Variable
    delivered: tf.Variable

    def ratio(self) -> float:
        """Frames decoded per frame delivered (1.0: nothing decoded in vain)."""
        return float(self.decoded.numpy()) / max(1, int(self.delivered.numpy()))


@contextlib.contextmanager
def count_decodes() -> Iterator[DecodeCount]:
    """Counts the JPEG decodes of pipelines *built* inside the block (tests, benchmarks)."""
    count = DecodeCount(*(tf.Variable(0, dtype=tf.int64, trainable=False) for _ in range(2)))
    _COUNTERS.append(count)
    try:
        yield count
    finally:
        _COUNTERS.remove(count)


def counted(out: tf.Tensor, field: str, num: int) -> tf.Tensor:
    """`out`, after adding `num` to the active counter's `field` (no-op when not counting)."""
    if not _COUNTERS:
        return out
    with tf.control_dependencies([getattr(_COUNTERS[-1], field).assign_add(num)]):
        return tf.identity(out)


def decode_frames(strings: tf.Tensor, indices: tf.Tensor, window: tf.Tensor | None, num: int) -> tf.Tensor:
    """JPEG-decode frames `indices` [num] of `strings` [N], only inside `window` (y, x, h, w).

    Returns:
      uint8 [num, h, w, 3] (the full frames when `window` is None).
    """
    frames = []
    for t in range(num):
        s = strings[indices[t]]
        if window is None:
            frames.append(tf.io.decode_jpeg(s, channels=3, dct_method=_DCT_METHOD))
        else:
            frames.append(tf.io.decode_and_crop_jpeg(s, window, channels=3, dct_method=_DCT_METHOD))
    return counted(tf.stack(frames), "decoded", num)


def frame_hw(strings: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.io.extract_jpeg_shape(strings[index])  # header only; all frames share a size
    return shape[0], shape[1]


def crop_window(key: tf.Tensor, h: tf.Tensor, w: tf.Tensor, cfg: augment.AugmentConfig) -> tf.Tensor:
    """The view's crop window (y, x, height, width) in the stored frame, as `cfg.crop` says."""
    if cfg.crop == "inception":
        return augment.inception_crop_window(key, h, w, cfg.area_range, cfg.aspect_range)
    if cfg.crop == "vgg":
        return augment.vgg_crop_window(key, h, w, cfg.crop_size, cfg.short_side_range)
    return augment.eval_crop_windows(h, w, cfg.crop_size, cfg.crop_size, 1)[0]  # "center": no augmentation


def views(
    key: tf.Tensor,
    ex: dict[str, tf.Tensor],
    indices: tf.Tensor,
    num_views: int,
    cfg: augment.AugmentConfig,
    canvas: tuple[int, int] | None = None,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """The augmented uint8 views [num_views, T, S, S, 3] of clips `indices` [C, T] (C = 1 or V).

    With one clip and several views (ρ=1), the clip's frames are decoded once and each view cuts
    its own window; otherwise each clip decodes its own window only. The views run as one
    `tf.map_fn`, so the graph (and its tracing time) does not grow with ρ.

    With a `canvas` (Hc, Wc), both >= S (crop, resize and flip on the device; no photometric op
    on the host), each view is its T frames decoded inside the crop window, uncut, at the
    top-left of a zero canvas: returns (uint8 [num_views, T, Hc, Wc, 3], int32 [num_views, 3] =
    (window height, window width, flip)), which `device_augment.crop_resize_flip` turns into
    exactly the S² views this function returns without a canvas (before their rounding to
    uint8). A window larger than the canvas is resized here (and rounded, as without a canvas)
    and sent as an S² window, which the device's resize leaves as it is.
    """
    strings, n = ex[records.VIDEO], ex[records.NUM_FRAMES]
    num_clips, t_len = indices.shape
    h, w = frame_hw(strings, indices[0, 0])
    shared = decode_frames(strings, indices[0], None, t_len) if num_clips < num_views else None
    photometric = augment.photometric_on_host(cfg)
    if canvas is not None and (photometric or min(canvas) < cfg.crop_size):
        raise ValueError(f"A canvas {canvas} needs no photometric op on the host and both sides >= {cfg.crop_size}.")

    def one_view(v: tf.Tensor) -> tf.Tensor:
        k_crop, k_diff, k_aug = sampling.split_key(sampling.fold_in(key, v), 3)
        window = crop_window(k_crop, h, w, cfg)
        idx = indices[tf.minimum(v, num_clips - 1)]

        def frames_at(i, unit=True):  # decoded, cropped, resized: float [T, S, S, 3]
            if shared is not None:
                frames, crop = decode_frames(strings, i, None, t_len), window
            else:
                frames, crop = decode_frames(strings, i, window, t_len), None
            return augment.crop_and_resize(frames, crop, cfg.crop_size, unit)

        if canvas is not None:
            return _on_canvas(k_aug, shared, strings, idx, window, t_len, cfg, canvas)
        if shared is not None:
            first = lambda unit: augment.crop_and_resize(shared, window, cfg.crop_size, unit)
        else:
            first = lambda unit: frames_at(idx, unit)
        if not photometric:  # uint8 straight through: resize, flip, round
            return augment.flip_only(k_aug, tf.cast(first(False) + 0.5, tf.uint8), cfg)  # rounded
        clip = first(True)
        if cfg.time_diff_prob > 0:  # difference with the next stored frame (looping)
            nxt = tf.math.floormod(idx + 1, tf.maximum(n, 1))
            diff = tf.random.stateless_uniform([], k_diff) < cfg.time_diff_prob
            clip = tf.cond(diff, lambda: augment.time_difference(clip, frames_at(nxt)), lambda: clip)
        return augment.to_uint8(augment.augment_clip(k_aug, clip, cfg))

    if canvas is not None:
        spec = (tf.TensorSpec([t_len, *canvas, 3], tf.uint8), tf.TensorSpec([3], tf.int32))
        clips, geometry = tf.map_fn(one_view, tf.range(num_views), fn_output_signature=spec)
        return counted(clips, "delivered", num_views * t_len), geometry
    spec = tf.TensorSpec([t_len, cfg.crop_size, cfg.crop_size, 3], tf.uint8)
    views = tf.map_fn(one_view, tf.range(num_views), fn_output_signature=spec)
    return counted(views, "delivered", num_views * t_len)


def _on_canvas(
    k_aug: tf.Tensor,
    shared: tf.Tensor | None,
    strings: tf.Tensor,
    idx: tf.Tensor,
    window: tf.Tensor,
    t_len: int,
    cfg: augment.AugmentConfig,
    canvas: tuple[int, int],
) -> tuple[tf.Tensor, tf.Tensor]:
    """One view for the device: its window's frames on the canvas, and (height, width, flip)."""
    # The flip `augment.flip_only` would draw, from the same key: the same clips either way.
    flip = (tf.random.stateless_uniform([], sampling.split_key(k_aug, 4)[0]) < 0.5) & cfg.flip
    size = cfg.crop_size

    def window_frames() -> list[tf.Tensor]:  # T frames [h, w, 3]
        if shared is not None:
            cut = shared[:, window[0] : window[0] + window[2], window[1] : window[1] + window[3]]
            return tf.unstack(cut, num=t_len)
        decoded = [
            tf.io.decode_and_crop_jpeg(strings[idx[t]], window, channels=3, dct_method=_DCT_METHOD)
            for t in range(t_len)
        ]
        return [counted(f, "decoded", 1) for f in decoded]

    def uncut():
        return place_on_canvas(window_frames(), canvas), window[2:]

    def resized():  # as without a canvas (rounded), unflipped: the device flips
        clip = augment.crop_and_resize(tf.stack(window_frames()), None, size, unit=False)
        return place_on_canvas(tf.unstack(tf.cast(clip + 0.5, tf.uint8), num=t_len), canvas), tf.constant([size, size])

    fits = (window[2] <= canvas[0]) & (window[3] <= canvas[1])
    clip, hw = tf.cond(fits, uncut, resized)
    return clip, tf.concat([hw, tf.cast(flip, tf.int32)[None]], 0)


def place_on_canvas(frames: list[tf.Tensor], canvas: tuple[int, int]) -> tf.Tensor:
    """Frames [h, w, C] (h, w <= canvas) at the top-left of a zero canvas: [T, Hc, Wc, C].

    Built with concatenations, which copy rows whole: 5× cheaper than tf.pad on uint8.
    """
    hc, wc = canvas
    rows = []
    for f in frames:
        h, w, c = tf.unstack(tf.shape(f))
        flat = tf.reshape(f, [h, w * c])
        flat = tf.concat([flat, tf.zeros([h, (wc - w) * c], f.dtype)], 1)
        rows += [flat, tf.zeros([hc - h, wc * c], f.dtype)]
    return tf.reshape(tf.concat(rows, 0), [len(frames), hc, wc, frames[0].shape[-1]])
