"""Tests of rhovid.data.reading.sampling: where clips fall, their stride, gaps, looping, determinism.

References are the specification itself (docs/method.md §1.1) written as NumPy arithmetic and statistics:
starts uniform over [0, n − T·τ·fps/30], stride τ·fps/30 stored frames, gap bounds in seconds.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from rhovid.data.reading import sampling


def draw(n_draws, num_frames, fps, **kw):
    """Stack `n_draws` index arrays [V, T] drawn with different keys."""
    fn = tf.function(
        lambda i: sampling.sample_clips(
            sampling.make_key(11, i), tf.constant(num_frames), tf.constant(fps, tf.float32), **kw
        )
    )
    return np.stack([fn(tf.constant(i, tf.int64)).numpy() for i in range(n_draws)])


def test_stride_follows_target_fps_and_indices_stay_in_video():
    # τ=8 at 30 fps; stored at 15 fps -> stride 4 stored frames, T=8 -> span 32 frames.
    idx = draw(200, 100, 15.0, num_clips=2, clip_len=8, frame_stride=8)
    assert idx.shape == (200, 2, 8)
    assert idx.min() >= 0 and idx.max() < 100
    np.testing.assert_array_equal(np.diff(idx, axis=-1), 4)
    # Non-integer stride: 25 fps -> 8·25/30 = 6.67 frames; indices are floor(start + t·6.67).
    idx = draw(50, 200, 25.0, num_clips=1, clip_len=8, frame_stride=8)
    steps = np.diff(idx, axis=-1)
    assert set(np.unique(steps)) <= {6, 7}
    total = idx[..., -1] - idx[..., 0]  # floor(s + 7·6.667) − floor(s) ∈ {46, 47}
    assert set(np.unique(total)) <= {46, 47}


def test_global_sampling_starts_are_uniform_over_the_whole_video():
    n, t_len, tau = 300, 8, 8  # span 64 frames at 30 fps -> starts in [0, 236]
    idx = draw(600, n, 30.0, num_clips=2, clip_len=t_len, frame_stride=tau)
    starts = idx[:, :, 0].astype(float)
    max_start = n - t_len * tau
    assert starts.max() <= max_start and starts.min() >= 0
    # Kolmogorov–Smirnov against U[0, max_start] (starts are floored: add U[0,1) jitter).
    jittered = (starts + np.random.default_rng(0).uniform(size=starts.shape)) / (max_start + 1)
    for v in range(2):
        assert stats.kstest(jittered[:, v], "uniform").pvalue > 1e-3
    # Clips are independent of each other (global sampling: no constraint between them).
    assert abs(np.corrcoef(starts[:, 0], starts[:, 1])[0, 1]) < 0.15


@pytest.mark.parametrize("min_s,max_s", [(None, 0.5), (1.0, 2.0), (2.0, None), (0.0, 0.0)])
def test_gap_between_consecutive_clip_starts_is_bounded(min_s, max_s):
    fps, n = 30.0, 400
    idx = draw(150, n, fps, num_clips=3, clip_len=4, frame_stride=4, min_distance_s=min_s, max_distance_s=max_s)
    gaps = np.diff(np.sort(idx[:, :, 0], axis=1), axis=1) / fps  # seconds, floored starts
    tol = 1.0 / fps  # flooring each start moves a gap by less than one frame
    if min_s is not None:
        assert gaps.min() >= min_s - tol
    if max_s is not None:
        assert gaps.max() <= max_s + tol
    # Still spread over the whole video, not stuck at one place.
    starts = idx[:, :, 0]
    assert starts.min() < 0.1 * n and starts.max() > 0.75 * (n - 16)


def test_zero_max_distance_gives_identical_clips():
    idx = draw(30, 200, 30.0, num_clips=2, clip_len=4, frame_stride=8, max_distance_s=0.0)
    np.testing.assert_array_equal(idx[:, 0], idx[:, 1])


def test_impossible_minimum_distance_spreads_clips_evenly():
    # 3 clips spanning 16 frames each in a 60-frame video: starts in [0, 44]; min gap 5 s is
    # impossible, so the clips are spread as far apart as the video allows (gaps of 22 frames).
    idx = draw(20, 60, 30.0, num_clips=3, clip_len=4, frame_stride=4, min_distance_s=5.0)
    starts = np.sort(idx[:, :, 0], axis=1)
    np.testing.assert_array_equal(starts, np.tile([0, 22, 44], (20, 1)))


def test_short_videos_loop():
    # 5 frames, 8 frames wanted with stride 1: the clip starts at 0 and wraps around.
    idx = draw(5, 5, 30.0, num_clips=2, clip_len=8, frame_stride=1)
    np.testing.assert_array_equal(idx, np.tile([0, 1, 2, 3, 4, 0, 1, 2], (5, 2, 1)))
    # Stride larger than the video: indices modulo the frame count.
    idx = draw(3, 7, 30.0, num_clips=1, clip_len=4, frame_stride=3)
    np.testing.assert_array_equal(idx[0, 0], np.array([0, 3, 6, 9]) % 7)


def test_fps_jitter_scales_each_clips_stride_within_bounds():
    idx = draw(200, 1000, 30.0, num_clips=2, clip_len=8, frame_stride=10, fps_jitter=0.5)
    spans = (idx[:, :, -1] - idx[:, :, 0]) / 7.0  # ≈ stride of each clip
    assert spans.min() >= 5.0 - 0.2 and spans.max() <= 15.0 + 0.2
    assert spans.std() > 2.0  # really jittered (U[5, 15] has std 2.9)
    assert np.mean(spans[:, 0] != spans[:, 1]) > 0.9  # independently per clip


def test_same_key_same_indices_and_keys_differ():
    a = draw(10, 300, 30.0, num_clips=4, clip_len=8, frame_stride=8)
    b = draw(10, 300, 30.0, num_clips=4, clip_len=8, frame_stride=8)
    np.testing.assert_array_equal(a, b)
    assert len({tuple(x.ravel()) for x in a}) == 10


def test_fold_in_distinguishes_data_and_keys():
    seeds = {tuple(sampling.make_key(s, d).numpy()) for s in range(3) for d in range(50)}
    assert len(seeds) == 150


def test_uniform_eval_clips_span_the_video_and_centre_single_clip():
    n, fps = 100, 30.0  # span 8 frames × stride 4 = 32 -> starts in [0, 68]
    idx = sampling.uniform_clips(tf.constant(n), tf.constant(fps), num_clips=3, clip_len=8, frame_stride=4).numpy()
    np.testing.assert_array_equal(idx[:, 0], [0, 34, 68])
    np.testing.assert_array_equal(idx[2], 68 + 4 * np.arange(8))
    one = sampling.uniform_clips(tf.constant(n), tf.constant(fps), num_clips=1, clip_len=8, frame_stride=4).numpy()
    np.testing.assert_array_equal(one[0], 34 + 4 * np.arange(8))
