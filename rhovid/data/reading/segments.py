"""Segment-based (TSN-style) frame sampling, the Something-Something v2 protocol.

Instead of T frames at a fixed stride, the whole video is cut into T equal segments and one frame
is taken from each, so every clip spans the full action whatever the video's length:

    seg = (N − 1) / T;  start_i = round(seg · i),  end_i = round(seg · (i + 1))   (i = 0 … T−1)
    training: frame_i uniform in [start_i, end_i] (both ends included)
    test:     frame_i = ⌊(start_i + end_i) / 2⌋   (the single centre view)

with rounding half to even (NumPy's and TensorFlow's `round`), as in PySlowFast's SSv2 loader.
Selected by `config.data.temporal_sampling = "segments"`; `rhovid.data.reading.streams` then uses these
indices in place of `sampling.sample_clips` (training) and `sampling.uniform_clips` (test).
"""

from __future__ import annotations

import tensorflow as tf

from rhovid.data.reading import sampling

SEGMENTS = "segments"


def segment_bounds(num_frames: tf.Tensor, num_segments: int) -> tuple[tf.Tensor, tf.Tensor]:
    """int64 [T] first and last frame (inclusive) of each segment of an N-frame video."""
    n = tf.cast(tf.maximum(num_frames, 1), tf.float64)
    seg = (n - 1.0) / num_segments
    i = tf.range(num_segments, dtype=tf.float64)
    return tf.cast(tf.round(seg * i), tf.int64), tf.cast(tf.round(seg * (i + 1.0)), tf.int64)


def segment_indices(key: sampling.Key | None, num_frames: tf.Tensor, num_segments: int, *, train: bool) -> tf.Tensor:
    """int32 [1, T] frame indices, one per segment: random in training (`key`), centred at test."""
    start, end = segment_bounds(num_frames, num_segments)
    if train:
        u = tf.random.stateless_uniform([num_segments], seed=key, dtype=tf.float64)
        idx = tf.minimum(start + tf.cast(tf.floor(u * tf.cast(end - start + 1, tf.float64)), tf.int64), end)
    else:
        idx = (start + end) // 2
    return tf.cast(idx, tf.int32)[None, :]
