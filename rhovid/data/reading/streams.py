"""The input streams: numpy batches of uint8 clips (normalisation happens on the device).

    make_pretrain_source    endless, ρ augmented clips per video            [B, V, T, S, S, 3]
    make_supervised_source  endless, one jittered clip per video + label    [B, 1, T, S, S, 3]
    make_eval_source        one pass, K clips × S crops per video + mask    [B, K·S, T, S, S, 3]

Stream position p (the p-th record this host ever reads) picks every random choice of that example
from the stateless seed (seed, process, p), so the output is independent of parallelism and thread
timing, and a run resumed at step k sees exactly the batches an uninterrupted run saw from there
(`rhovid.data.reading.tfrecords` says how records are found, sliced and skipped).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from rhovid.data import records
from rhovid.data.reading import augment, frames, sampling, segments, tfrecords
from rhovid.errors import UserError

_FOREVER = 2**62
_plain = tf.autograph.experimental.do_not_convert  # our dataset functions use tf.cond explicitly


@dataclasses.dataclass
class Source:
    """An iterable of numpy batches, and what the caller needs to know about it.

    Attributes:
      dataset: the batched tf.data pipeline (dicts of tensors).
      num_examples: videos in the whole split (all processes): steps per epoch = this / batch.
      num_batches: batches per pass for evaluation sources; None for endless streams.
      skips: what a training stream dropped (None for evaluation sources, which fail instead).
    """

    dataset: tf.data.Dataset
    num_examples: int
    num_batches: int | None = None
    skips: tfrecords.SkipReport | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.dataset.as_numpy_iterator())

    @property
    def skipped_records(self) -> int | None:
        """Broken records this process's stream has dropped so far (read ahead of training)."""
        return None if self.skips is None else self.skips.count


def _options() -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    opts.experimental_optimization.map_parallelization = True
    return opts


def _parallel(data_cfg: Any) -> int:
    return tf.data.AUTOTUNE if data_cfg.num_parallel_calls < 0 else int(data_cfg.num_parallel_calls)


def _local_batch(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise ValueError(f"global batch {global_batch_size} is not divisible by process_count={process_count}.")
    return global_batch_size // process_count


def _stream(
    data_cfg: Any,
    split: str,
    fn: Callable,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int,
    process_index: int,
    process_count: int,
    num_steps: int | None,
) -> Source:
    """Seeded epochs of one host's slice from step `start_step`, mapped by fn(key, ex)."""
    local = _local_batch(global_batch_size, process_count)
    part = tfrecords.host_split(data_cfg, split, process_index, process_count)
    base = sampling.make_key(seed, process_index)
    start = start_step * local
    epoch, offset = divmod(start, part.num_local)

    def one_epoch(e):
        return part.read(sampling.fold_in(sampling.fold_in(base, 1), e), data_cfg.shuffle_buffer)

    raw = tf.data.Dataset.range(epoch, _FOREVER).flat_map(_plain(one_epoch)).skip(offset)  # skip, undecoded
    if num_steps is not None:
        raw = raw.take(num_steps * local)
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(start, _FOREVER), raw)
    # Between two good records there are at most 2·(num_local − 1) broken ones (end of one epoch,
    # start of the next): more in a row means nothing is readable.
    skips = tfrecords.SkipReport(2 * part.num_local, f"{data_cfg.name}/{split}")
    ds = tfrecords.decode_or_skip(
        ds,
        lambda p, r: fn(sampling.fold_in(sampling.fold_in(base, 2), p), part.parse(r)),
        _parallel(data_cfg),
        skips,
    )
    ds = ds.batch(local, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return Source(ds.with_options(_options()), part.num_examples, skips=skips)


def make_pretrain_source(
    data_cfg: Any,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    num_steps: int | None = None,
    augmentation: augment.AugmentConfig | None = None,
) -> Source:
    """The endless pretraining stream: dict(clips=uint8 [B_local, V, T, S, S, 3]).

    With `data_cfg.crop_on_device`: dict(clips=uint8 [B_local, V, T, Hc, Wc, 3], crop=int32
    [B_local, V, 3]), each view's frames decoded inside its crop window on a canvas, and
    (window height, window width, flip), which the train step crops, resizes and flips
    (`device_augment.preprocess`, `frames.views`).

    V = ρ clips per video, or 2 views of one clip when ρ=1. Crop and flip are applied here, and
    colour jitter, grayscale and blur too unless `data_cfg.color_on_device` (then the train step
    calls `device_augment.color_augment`). Batches from `start_step` are exactly those an
    uninterrupted run with the same seed produces at that step. `num_steps` ends the stream after
    that many batches (None: endless); `augmentation` replaces the one `data_cfg` describes (the
    frame indices stay those of the seed, e.g. to show clips before augmentation).
    """
    cfg = augmentation or augment.AugmentConfig.pretrain(data_cfg)
    rho = int(data_cfg.rho)
    if rho < 1:
        raise ValueError(f"config.data.rho must be >= 1; got {rho}.")
    canvas = device_crop_canvas(data_cfg, cfg)

    def fn(key, ex):
        k_idx, k_views = sampling.split_key(key, 2)
        indices = sampling.sample_clips(
            k_idx,
            ex[records.NUM_FRAMES],
            ex[records.FPS],
            num_clips=rho,
            clip_len=data_cfg.num_frames,
            frame_stride=data_cfg.frame_stride,
            target_fps=data_cfg.target_fps,
            min_distance_s=data_cfg.min_clip_distance_s,
            max_distance_s=data_cfg.max_clip_distance_s,
            fps_jitter=data_cfg.fps_jitter,
        )  # [ρ, T]
        if canvas is None:
            return {"clips": frames.views(k_views, ex, indices, max(rho, 2), cfg)}
        clips, crop = frames.views(k_views, ex, indices, max(rho, 2), cfg, canvas)
        return {"clips": clips, "crop": crop}

    return _stream(
        data_cfg,
        data_cfg.train_split,
        fn,
        global_batch_size=global_batch_size,
        seed=seed,
        start_step=start_step,
        process_index=process_index,
        process_count=process_count,
        num_steps=num_steps,
    )


def device_crop_canvas(data_cfg: Any, cfg: augment.AugmentConfig) -> tuple[int, int] | None:
    """The canvas (Hc, Wc) of `data_cfg.crop_on_device`, or None when the host crops.

    `data_cfg.device_crop_canvas` is given for 224² crops and scaled to crop_size, at least S².
    """
    if not data_cfg.get("crop_on_device", False):
        return None
    if augment.photometric_on_host(cfg):
        raise ValueError(
            "config.data.crop_on_device needs every pixel operation on the device: set "
            "data.color_on_device=True and data.time_diff_prob=0 (the host would otherwise recolour "
            "the resized crop)."
        )
    s = cfg.crop_size
    return tuple(max(s, math.ceil(augment.scale_to_crop(c, s))) for c in data_cfg.device_crop_canvas)


def make_supervised_source(
    data_cfg: Any,
    split: str,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    color: bool = False,
    num_steps: int | None = None,
    multi_hot_classes: int | None = None,
) -> Source:
    """Endless labelled training views: dict(clips=uint8 [B_local, 1, T, S, S, 3], label=int32 [B_local]).

    One random clip per video, short side U[256, 320]·S/224, random S² crop, flip (docs/method.md §5);
    with `color`, jitter (0.4, 0.4, 0.4, 0.1) and grayscale p=0.2 (UCF101 fine-tuning). With
    `multi_hot_classes` = C (multi-label datasets: Charades' `labels`, a sequence of class indices
    per video), the label is the multi-hot float32 [B_local, C] target instead.
    """
    cfg = augment.AugmentConfig.supervised(data_cfg, color)
    label_key = data_cfg.label_key
    segmented = data_cfg.get("temporal_sampling", "clips") == segments.SEGMENTS  # SSv2 (reading/segments.py)

    def fn(key, ex):
        k_idx, k_views = sampling.split_key(key, 2)
        indices = (
            sampling.sample_clips(
                k_idx,
                ex[records.NUM_FRAMES],
                ex[records.FPS],
                num_clips=1,
                clip_len=data_cfg.num_frames,
                frame_stride=data_cfg.frame_stride,
                target_fps=data_cfg.target_fps,
            )
            if not segmented
            else segments.segment_indices(k_idx, ex[records.NUM_FRAMES], data_cfg.num_frames, train=True)
        )
        return {
            "clips": frames.views(k_views, ex, indices, 1, cfg),
            "label": _label(ex, label_key, multi_hot_classes),
        }

    return _stream(
        data_cfg,
        split,
        fn,
        global_batch_size=global_batch_size,
        seed=seed,
        start_step=start_step,
        process_index=process_index,
        process_count=process_count,
        num_steps=num_steps,
    )


def _label(ex: dict[str, tf.Tensor], key: str, multi_hot_classes: int | None = None) -> tf.Tensor:
    """The example's label: int32 [] (one class), or float32 [C] multi-hot when `multi_hot_classes`=C."""
    if key not in ex:
        raise ValueError(f"Label {key!r} not in the dataset; it has {sorted(ex)}.")
    label = ex[key]
    is_sequence = label.shape.rank == 1  # a multi-label feature: the class indices of the video
    if multi_hot_classes is None and is_sequence:
        raise UserError(
            f"Label {key!r} lists several classes per video (multi-label): set --config.eval.multi_label=True."
        )
    if multi_hot_classes is not None and not is_sequence:
        raise UserError(f"Label {key!r} is one class per video: set --config.eval.multi_label=False.")
    if multi_hot_classes is None:
        return tf.cast(label, tf.int32)
    return multi_hot(label, multi_hot_classes)


def multi_hot(indices: tf.Tensor, num_classes: int) -> tf.Tensor:
    """int [L] class indices (L >= 0, repeats allowed) -> float32 [C], 1 at each listed class."""
    one_hot = tf.one_hot(tf.cast(indices, tf.int32), num_classes, dtype=tf.float32)  # [L, C]
    return tf.minimum(tf.reduce_sum(one_hot, axis=0), 1.0)  # an empty list gives all zeros


def make_eval_source(
    data_cfg: Any,
    split: str,
    *,
    batch_size: int,
    num_clips: int,
    num_crops: int,
    process_index: int = 0,
    process_count: int = 1,
    label_keys: Sequence[str] | None = None,
    multi_hot_classes: int | None = None,
) -> Source:
    """Deterministic test views, every example exactly once over all processes.

    Yields dict(clips=uint8 [B, K·S, T, C, C, 3] (view k·S+s = clip k, crop s), label=int32 [B]
    (or a dict {key: int32 [B]} for `label_keys`; float32 multi-hot [B, num_classes] instead with
    `multi_hot_classes`, as in `make_supervised_source`), index=int64 [B] (example index in the split,
    −1 for padding), mask=bool [B]). K clips evenly spaced over the video (K=1: centre clip),
    S crops of C = eval_crop_size·crop_size/224 (`augment.eval_crop_size`) after resizing the short
    side to eval_short_side·crop_size/224, spaced along
    the long side (S=1: centre). The last batches are padded (mask False) so that every process
    yields `num_batches` batches.
    """
    part = tfrecords.host_split(data_cfg, split, process_index, process_count)
    size, t_len = augment.eval_crop_size(data_cfg), data_cfg.num_frames
    short = augment.scale_to_crop(data_cfg.eval_short_side, data_cfg.crop_size)
    keys = tuple(label_keys) if label_keys else (data_cfg.label_key,)
    segmented = data_cfg.get("temporal_sampling", "clips") == segments.SEGMENTS
    if segmented and num_clips != 1:
        raise ValueError(f"Segment sampling has one view per video; set data.num_test_clips=1, not {num_clips}.")

    def fn(index, raw):
        readable = tf.debugging.Assert(
            tf.strings.length(raw["record"]) > 0,
            ["Unreadable record (the shard is corrupt or truncated there): record", raw["index"], "of", raw["file"]],
        )
        with tf.control_dependencies([readable]):
            ex = part.parse(tf.identity(raw["record"]))
        strings = ex[records.VIDEO]
        indices = (
            sampling.uniform_clips(
                ex[records.NUM_FRAMES],
                ex[records.FPS],
                num_clips=num_clips,
                clip_len=t_len,
                frame_stride=data_cfg.frame_stride,
                target_fps=data_cfg.target_fps,
            )
            if not segmented
            else segments.segment_indices(None, ex[records.NUM_FRAMES], t_len, train=False)
        )  # [K, T]
        h, w = frames.frame_hw(strings, indices[0, 0])
        windows = augment.eval_crop_windows(h, w, size, short, num_crops)  # [S, 4]

        def crops_of_clip(clip_indices):  # [T] -> uint8 [S, T, C, C, 3]
            decoded = frames.decode_frames(strings, clip_indices, None, t_len)
            crops = [augment.crop_and_resize(decoded, windows[s], size) for s in range(num_crops)]
            return augment.to_uint8(tf.stack(crops))

        spec = tf.TensorSpec([num_crops, t_len, size, size, 3], tf.uint8)
        views = tf.map_fn(crops_of_clip, indices, fn_output_signature=spec)  # [K, S, T, C, C, 3]
        labels = {k: _label(ex, k, multi_hot_classes) for k in keys}
        return {
            "clips": frames.counted(
                tf.reshape(views, [num_clips * num_crops, t_len, size, size, 3]),
                "delivered",
                num_clips * num_crops * t_len,
            ),
            "label": labels if label_keys else labels[keys[0]],
            "index": index,
            "mask": tf.constant(True),
        }

    per_host = math.ceil(part.num_examples / process_count)
    num_batches = math.ceil(per_host / batch_size)
    pad = num_batches * batch_size - part.num_local
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(part.first, part.first + part.num_local), part.read(None, 0))
    ds = ds.map(_plain(fn), num_parallel_calls=_parallel(data_cfg), deterministic=True)
    no_label = tf.constant(0, tf.int32) if multi_hot_classes is None else tf.zeros([multi_hot_classes], tf.float32)
    filler = {
        "clips": tf.zeros([num_clips * num_crops, t_len, size, size, 3], tf.uint8),
        "label": {k: no_label for k in keys} if label_keys else no_label,
        "index": tf.constant(-1, tf.int64),
        "mask": tf.constant(False),
    }
    ds = ds.concatenate(tf.data.Dataset.from_tensors(filler).repeat(pad))
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return Source(ds.with_options(_options()), part.num_examples, num_batches)
