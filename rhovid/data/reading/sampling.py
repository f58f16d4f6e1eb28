"""Where the ρ clips of a video come from: frame indices, before any JPEG is decoded.

The reader picks, for every video, ρ clips of T frames with stride τ (docs/method.md §1.1). Strides are
given in frames at `target_fps` (30, as in the paper and PySlowFast) and converted to the stored
frame rate, so an 8×8 clip spans 64/30 ≈ 2.13 s whatever the video's fps. Clip starts are uniform
over the whole video ("global" sampling); optional bounds on the distance between consecutive
clip starts reproduce the paper's Table 4 (t_max; start to start, so t_max = 0 means the clips
coincide as in the paper, where PySlowFast's DELTA_CLIPS bounds measure from one clip's end to the
next one's start). Videos shorter than a clip loop (indices are taken modulo the frame count).

Everything here is a pure function of a stateless seed and the video's length, written with
TensorFlow ops so it runs inside tf.data on the host; the same seed gives the same indices whatever
the pipeline's parallelism. Only the indices returned here are ever decoded.
"""

from __future__ import annotations

import tensorflow as tf

Key = tf.Tensor  # int64 [2], a stateless seed.


def make_key(seed: int | tf.Tensor, *data: int | tf.Tensor) -> Key:
    """A stateless seed for `seed` with each of `data` folded in (e.g. process, position, clip)."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    for d in data:
        key = fold_in(key, d)
    return key


def fold_in(key: Key, data: int | tf.Tensor) -> Key:
    """A new stateless seed derived from `key` and the integer `data`.

    The result is `[H(key), data]` where H is a Philox draw keyed by `key`, so distinct `data`
    under one key always give distinct seeds (hence independent Philox streams).
    """
    mixed = tf.random.stateless_uniform([], seed=key, minval=None, maxval=None, dtype=tf.int64)  # full-range int64
    return tf.stack([mixed, tf.cast(data, tf.int64)])


def split_key(key: Key, num: int) -> list[Key]:
    """`num` independent seeds derived from `key`."""
    return [fold_in(key, i) for i in range(num)]


def stored_stride(frame_stride: float, fps: tf.Tensor, target_fps: float = 30.0) -> tf.Tensor:
    """The stride τ (frames at `target_fps`) in frames of the stored video: τ·fps/target_fps."""
    return tf.cast(frame_stride, tf.float32) * tf.cast(fps, tf.float32) / target_fps


def clip_frame_indices(starts: tf.Tensor, strides: tf.Tensor, num_frames: tf.Tensor, clip_len: int) -> tf.Tensor:
    """Frame indices of clips starting at `starts` (stored frames) with per-clip `strides`.

    Args:
      starts: float32 [V], first frame of each clip (fractional positions are floored).
      strides: float32 [V], stride of each clip in stored frames.
      num_frames: int scalar, frames in the video.
      clip_len: T.

    Returns:
      int32 [V, T]: floor(start + t·stride) modulo num_frames (short videos loop).
    """
    t = tf.range(clip_len, dtype=tf.float32)  # [T]
    pos = tf.floor(starts[:, None] + t[None, :] * strides[:, None])  # [V, T]
    n = tf.cast(tf.maximum(num_frames, 1), tf.int64)
    return tf.cast(tf.math.floormod(tf.cast(pos, tf.int64), n), tf.int32)


def sample_clip_starts(
    key: Key,
    max_starts: tf.Tensor,
    *,
    min_gap: float | tf.Tensor = 0.0,
    max_gap: float | tf.Tensor | None = None,
    max_tries: int = 32,
) -> tf.Tensor:
    """Random clip starts, uniform over [0, max_starts[v]], with bounded gaps between them.

    Without gap bounds every start is independent and uniform (the paper's global sampling).
    With bounds, `max_tries` independent draws are made and the first whose consecutive sorted
    starts satisfy `min_gap <= gap <= max_gap` is kept (exactly uniform over the allowed set, as
    PySlowFast's re-drawing). If none does, a constructive draw is used: gaps uniform in the
    allowed range, shrunk if they do not fit, the group placed uniformly, the order permuted. The
    maximum gap always holds; the minimum holds whenever the video is long enough for it
    ((V−1)·min_gap <= min(max_starts)), otherwise the clips are spread evenly over the video.

    Args:
      key: stateless seed.
      max_starts: float32 [V], the last allowed start of each clip (video length − clip span,
        at least 0).
      min_gap: minimum distance between consecutive sorted starts, in stored frames.
      max_gap: maximum such distance, or None for no bound.
      max_tries: number of unconstrained draws tried before the constructive fallback.

    Returns:
      float32 [V], start of each clip in stored frames (clip order random, not sorted).
    """
    max_starts = tf.maximum(tf.cast(max_starts, tf.float32), 0.0)
    num_clips = max_starts.shape[0]
    k_try, k_fallback = split_key(key, 2)
    if num_clips == 1 or (max_gap is None and _is_zero(min_gap)):
        u = tf.random.stateless_uniform([num_clips], seed=k_try)
        return u * max_starts
    min_gap = tf.cast(min_gap, tf.float32)
    max_gap = tf.cast(float("inf") if max_gap is None else max_gap, tf.float32)
    u = tf.random.stateless_uniform([max_tries, num_clips], seed=k_try)
    tries = u * max_starts[None, :]  # [tries, V]
    gaps = tf.experimental.numpy.diff(tf.sort(tries, axis=1), axis=1)  # [tries, V-1]
    eps = 1e-3
    ok = tf.reduce_all((gaps >= min_gap - eps) & (gaps <= max_gap + eps), axis=1)  # [tries]
    first_ok = tf.argmax(tf.cast(ok, tf.int32))
    fallback = _constructive_starts(k_fallback, max_starts, min_gap, max_gap)
    return tf.cond(tf.reduce_any(ok), lambda: tries[first_ok], lambda: fallback)


def _constructive_starts(key: Key, max_starts: tf.Tensor, min_gap: tf.Tensor, max_gap: tf.Tensor) -> tf.Tensor:
    """Starts with every consecutive gap in [min_gap, max_gap] when that fits in the video."""
    num_clips = max_starts.shape[0]
    k_gap, k_first, k_perm = split_key(key, 3)
    room = tf.reduce_min(max_starts)  # all clips must fit, whatever their span
    lo = tf.minimum(min_gap, room / (num_clips - 1))  # relax the minimum only if it cannot fit
    hi = tf.maximum(tf.minimum(max_gap, room), lo)
    g = lo + tf.random.stateless_uniform([num_clips - 1], seed=k_gap) * (hi - lo)  # [V-1]
    excess = tf.reduce_sum(g - lo)
    budget = room - (num_clips - 1) * lo
    g = lo + (g - lo) * tf.minimum(1.0, budget / tf.maximum(excess, 1e-6))  # total fits in room
    first = tf.random.stateless_uniform([], seed=k_first) * tf.maximum(room - tf.reduce_sum(g), 0.0)
    sorted_starts = first + tf.concat([[0.0], tf.cumsum(g)], axis=0)  # [V]
    order = tf.argsort(tf.random.stateless_uniform([num_clips], seed=k_perm))
    return tf.gather(sorted_starts, order)


def _is_zero(x: float | tf.Tensor | None) -> bool:
    return x is None or (isinstance(x, (int, float)) and x == 0)


def sample_clips(
    key: Key,
    num_frames: tf.Tensor,
    fps: tf.Tensor,
    *,
    num_clips: int,
    clip_len: int,
    frame_stride: float,
    target_fps: float = 30.0,
    min_distance_s: float | None = None,
    max_distance_s: float | None = None,
    fps_jitter: float = 0.0,
) -> tf.Tensor:
    """Frame indices of `num_clips` random clips of one video (training).

    Args:
      key: stateless seed for this video.
      num_frames: int scalar, frames stored for the video.
      fps: float scalar, frame rate of the stored frames.
      num_clips: ρ (number of clips to sample).
      clip_len: T.
      frame_stride: τ, in frames at `target_fps`.
      target_fps: the frame rate τ refers to (30 in the paper).
      min_distance_s: minimum distance between consecutive sorted clip starts, seconds.
      max_distance_s: maximum such distance (the paper's t_max), seconds; None = unbounded.
      fps_jitter: frame-rate jitter j: each clip's stride is scaled by U[1−j, 1+j] (Table 7).

    Returns:
      int32 [num_clips, clip_len], indices into the video's frames.
    """
    if not 0.0 <= fps_jitter < 1.0:
        raise ValueError(f"fps_jitter must be in [0, 1); got {fps_jitter}.")
    k_jitter, k_starts = split_key(key, 2)
    fps = tf.cast(fps, tf.float32)
    strides = tf.fill([num_clips], stored_stride(frame_stride, fps, target_fps))  # [V]
    if fps_jitter > 0:
        strides *= tf.random.stateless_uniform(
            [num_clips], seed=k_jitter, minval=1.0 - fps_jitter, maxval=1.0 + fps_jitter
        )
    spans = strides * clip_len  # [V], stored frames covered by each clip (T·τ at target fps)
    max_starts = tf.maximum(tf.cast(num_frames, tf.float32) - spans, 0.0)
    starts = sample_clip_starts(
        k_starts,
        max_starts,
        min_gap=0.0 if min_distance_s is None else min_distance_s * fps,
        max_gap=None if max_distance_s is None else max_distance_s * fps,
    )
    return clip_frame_indices(starts, strides, num_frames, clip_len)


def uniform_clips(
    num_frames: tf.Tensor,
    fps: tf.Tensor,
    *,
    num_clips: int,
    clip_len: int,
    frame_stride: float,
    target_fps: float = 30.0,
) -> tf.Tensor:
    """Frame indices of `num_clips` evenly spaced clips (evaluation; deterministic).

    Clip k starts at k/(K−1) of the way from the first to the last possible start, so the first
    clip begins the video and the last one ends it; with K=1 the single clip is centred.

    Returns:
      int32 [num_clips, clip_len].
    """
    stride = stored_stride(frame_stride, fps, target_fps)
    max_start = tf.maximum(tf.cast(num_frames, tf.float32) - stride * clip_len, 0.0)
    if num_clips == 1:
        frac = tf.constant([0.5])
    else:
        frac = tf.range(num_clips, dtype=tf.float32) / (num_clips - 1)
    starts = tf.floor(frac * max_start)  # [K]
    return clip_frame_indices(starts, tf.fill([num_clips], stride), num_frames, clip_len)
