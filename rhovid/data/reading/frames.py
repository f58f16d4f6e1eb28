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


def views(
    key: tf.Tensor, ex: dict[str, tf.Tensor], indices: tf.Tensor, num_views: int, cfg: augment.AugmentConfig
) -> tf.Tensor:
    """The augmented uint8 views [num_views, T, S, S, 3] of clips `indices` [C, T] (C = 1 or V).

    With one clip and several views (ρ=1), the clip's frames are decoded once and each view cuts
    its own window; otherwise each clip decodes its own window only. The views run as one
    `tf.map_fn`, so the graph (and its tracing time) does not grow with ρ.
    """
    strings, n = ex[records.VIDEO], ex[records.NUM_FRAMES]
    num_clips, t_len = indices.shape
    h, w = frame_hw(strings, indices[0, 0])
    shared = decode_frames(strings, indices[0], None, t_len) if num_clips < num_views else None
    photometric = augment.photometric_on_host(cfg)

    def one_view(v: tf.Tensor) -> tf.Tensor:
        k_crop, k_diff, k_aug = sampling.split_key(sampling.fold_in(key, v), 3)
        if cfg.crop == "inception":
            window = augment.inception_crop_window(k_crop, h, w, cfg.area_range, cfg.aspect_range)
        elif cfg.crop == "vgg":
            window = augment.vgg_crop_window(k_crop, h, w, cfg.crop_size, cfg.short_side_range)
        else:  # "center": the largest centred square (no spatial augmentation)
            window = augment.eval_crop_windows(h, w, cfg.crop_size, cfg.crop_size, 1)[0]
        idx = indices[tf.minimum(v, num_clips - 1)]

        def frames_at(i, unit=True):  # decoded, cropped, resized: float [T, S, S, 3]
            if shared is not None:
                frames, crop = decode_frames(strings, i, None, t_len), window
            else:
                frames, crop = decode_frames(strings, i, window, t_len), None
            return augment.crop_and_resize(frames, crop, cfg.crop_size, unit)

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

    spec = tf.TensorSpec([t_len, cfg.crop_size, cfg.crop_size, 3], tf.uint8)
    views = tf.map_fn(one_view, tf.range(num_views), fn_output_signature=spec)
    return counted(views, "delivered", num_views * t_len)
